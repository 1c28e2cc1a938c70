import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectFormat, LabeledFileError, parseCsvRecords, parseLabeledFile } from '../src/data/user-file';
import type { LabeledFileIssue } from '../src/data/user-file';

function issuesOf(fn: () => unknown): LabeledFileIssue[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LabeledFileError, `expected LabeledFileError, got ${String(e)}`);
    return [...e.issues];
  }
  assert.fail('expected a LabeledFileError');
}

test('detectFormat maps extensions case-insensitively', () => {
  assert.equal(detectFormat('train.jsonl'), 'jsonl');
  assert.equal(detectFormat('DATA.NDJSON'), 'jsonl');
  assert.equal(detectFormat('my.file.CSV'), 'csv');
  assert.equal(detectFormat('notes.txt'), null);
  assert.equal(detectFormat('data.json'), null);
  assert.equal(detectFormat('csv'), null);
});

test('JSONL: reads text/label, keeps text as written, trims labels, accepts numeric labels, skips blank lines', () => {
  const text = '\uFEFF{"text":"  good movie ","label":" pos "}\r\n\r\n{"text":"bad","label":0,"extra":true}\n';
  const parsed = parseLabeledFile(text, 'jsonl');
  assert.deepEqual(parsed.items, [
    { text: '  good movie ', label: 'pos' },
    { text: 'bad', label: '0' },
  ]);
  assert.deepEqual(parsed.lines, [1, 3]);
});

test('JSONL: custom field names', () => {
  const parsed = parseLabeledFile('{"sentence":"hi","y":"greet"}', 'jsonl', { textField: 'sentence', labelField: 'y' });
  assert.deepEqual(parsed.items, [{ text: 'hi', label: 'greet' }]);
  // Inherited object properties are not fields.
  const issues = issuesOf(() => parseLabeledFile('{"text":"hi"}', 'jsonl', { labelField: 'constructor' }));
  assert.deepEqual(issues, [{ line: 1, message: 'missing "constructor" field' }]);
});

test('JSONL: every bad row is reported with its line and problem, nothing dropped silently', () => {
  const lines = [
    '{"text":"fine","label":"a"}', // 1 ok
    '{"text":"oops","label":"a"', // 2 invalid JSON
    '[1,2]', // 3 not an object
    '{"label":"a"}', // 4 missing text
    '{"text":"x"}', // 5 missing label
    '{"text":"   ","label":"a"}', // 6 empty text
    '{"text":"y","label":""}', // 7 empty label
    '{"text":5,"label":true}', // 8 wrong types
    '', // 9 blank: skipped
    'null', // 10
    '{"text":"also fine","label":"b"}', // 11 ok
  ].join('\n');
  const issues = issuesOf(() => parseLabeledFile(lines, 'jsonl'));
  assert.deepEqual(
    issues.map((i) => i.line),
    [2, 3, 4, 5, 6, 7, 8, 10],
  );
  const msg = (line: number) => issues.find((i) => i.line === line)?.message ?? '';
  assert.match(msg(2), /invalid JSON/);
  assert.match(msg(3), /expected a JSON object, got an array/);
  assert.match(msg(4), /missing "text" field/);
  assert.match(msg(5), /missing "label" field/);
  assert.match(msg(6), /empty text/);
  assert.match(msg(7), /empty label/);
  assert.match(msg(8), /"text" must be a string, got a number; "label" must be a string or a number, got a boolean/);
  assert.match(msg(10), /got null/);
});

test('JSONL: an empty file is an error', () => {
  assert.deepEqual(issuesOf(() => parseLabeledFile('\n\n', 'jsonl')), [{ line: 1, message: 'file holds no rows' }]);
});

test('CSV: RFC 4180 quoting (delimiters, doubled quotes, line breaks in quotes), CRLF, BOM, case-insensitive header', () => {
  const csv =
    '\uFEFFid,Text,LABEL\r\n' +
    '1,plain text,pos\r\n' +
    '2,"with, comma and ""quotes""",neg\r\n' +
    '3,"two\r\nlines",pos\r\n' +
    '\r\n' +
    '4,"last ""one""","x"\r\n';
  const parsed = parseLabeledFile(csv, 'csv');
  assert.deepEqual(parsed.items, [
    { text: 'plain text', label: 'pos' },
    { text: 'with, comma and "quotes"', label: 'neg' },
    { text: 'two\r\nlines', label: 'pos' },
    { text: 'last "one"', label: 'x' },
  ]);
  // Row 4 starts on line 7: the quoted line break moved it down one, the blank line another.
  assert.deepEqual(parsed.lines, [2, 3, 4, 7]);
});

test('CSV: no trailing newline, other delimiters, custom column names', () => {
  assert.deepEqual(parseLabeledFile('text,label\na,b', 'csv').items, [{ text: 'a', label: 'b' }]);
  assert.deepEqual(parseLabeledFile('label;text\nb;"a;c"\n', 'csv', { delimiter: ';' }).items, [{ text: 'a;c', label: 'b' }]);
  assert.deepEqual(parseLabeledFile('Sentence,Intent\nhi,greet\n', 'csv', { textField: 'sentence', labelField: 'intent' }).items, [
    { text: 'hi', label: 'greet' },
  ]);
  assert.throws(() => parseLabeledFile('text,label\n', 'csv', { delimiter: '"' }), RangeError);
});

test('CSV: every bad row is reported with its line and problem', () => {
  const csv = [
    'text,label', // 1
    'ok,a', // 2
    'too,many,fields', // 3
    'few', // 4
    ',a', // 5 empty text
    'x,  ', // 6 empty label
    'ab"c,a', // 7 quote in unquoted field
    '"closed"x,a', // 8 junk after closing quote
    'fine again,b', // 9
    '"never closed,a', // 10 unterminated: swallows the rest
    'last,b',
  ].join('\n');
  const issues = issuesOf(() => parseLabeledFile(csv, 'csv'));
  assert.deepEqual(
    issues.map((i) => i.line),
    [3, 4, 5, 6, 7, 8, 10],
  );
  const msg = (line: number) => issues.find((i) => i.line === line)?.message ?? '';
  assert.match(msg(3), /expected 2 columns, found 3/);
  assert.match(msg(4), /expected 2 columns, found 1/);
  assert.match(msg(5), /empty text/);
  assert.match(msg(6), /empty label/);
  assert.match(msg(7), /quote inside unquoted field 1/);
  assert.match(msg(8), /unexpected character 'x' after the closing quote of field 1/);
  assert.match(msg(10), /unterminated quoted field 1 \(quote opened on line 10\)/);
});

test('CSV: header problems', () => {
  assert.match(issuesOf(() => parseLabeledFile('', 'csv'))[0]?.message ?? '', /empty file/);
  assert.match(issuesOf(() => parseLabeledFile('\uFEFF', 'csv'))[0]?.message ?? '', /empty file/);
  assert.match(issuesOf(() => parseLabeledFile('sentence,label\nx,y\n', 'csv'))[0]?.message ?? '', /no "text" column \(found: sentence, label\)/);
  assert.match(issuesOf(() => parseLabeledFile('text,Text,label\n', 'csv'))[0]?.message ?? '', /"text" column appears 2 times/);
  assert.deepEqual(issuesOf(() => parseLabeledFile('text,label\r\n', 'csv')), [{ line: 1, message: 'header found but no data rows' }]);
});

test('LabeledFileError message lists the problems, capped at 100 lines; issues keep all', () => {
  // Each row has two problems; both are named.
  const rows = Array.from({ length: 150 }, () => '{"text":""}').join('\n');
  try {
    parseLabeledFile(rows, 'jsonl');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof LabeledFileError);
    assert.equal(e.issues.length, 150);
    assert.match(e.message, /^150 problem\(s\) in JSONL file:\n {2}line 1: empty text; missing "label" field/);
    assert.match(e.message, /line 100: /);
    assert.doesNotMatch(e.message, /line 101: /);
    assert.match(e.message, /… and 50 more$/);
  }
});

test('parseCsvRecords: record boundaries and start lines', () => {
  const recs = parseCsvRecords('a,b\n"x\ny",z\n\n,\n');
  assert.deepEqual(
    recs.map((r) => [r.line, r.fields]),
    [
      [1, ['a', 'b']],
      [2, ['x\ny', 'z']],
      [5, ['', '']],
    ],
  );
  assert.deepEqual(parseCsvRecords(''), []);
  assert.deepEqual(parseCsvRecords('a,'), [{ line: 1, fields: ['a', ''] }]);
});
