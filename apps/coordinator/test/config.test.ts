import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeMaxHttpBufferSize, ConfigError, parseCoordinatorArgs } from '../src/config';
import { runParamsFromConfig, strategySpecFor } from '../src/run-session';

describe('parseCoordinatorArgs', () => {
  it('reads every flag', () => {
    const c = parseCoordinatorArgs([
      '--port', '9001', '--host', '127.0.0.1', '--token', 'abc', '--strategy', 'hierfedlora', '--rounds', '7',
      '--devices', '6', '--alpha', '0.3', '--seed', '5', '--db', 'memory', '--exit-when-done',
    ]);
    assert.deepEqual(
      [c.port, c.host, c.token, c.tokenGenerated, c.strategy, c.rounds, c.devicesExpected, c.alpha, c.seed, c.db, c.exitWhenDone],
      [9001, '127.0.0.1', 'abc', false, 'hierfedlora', 7, 6, 0.3, 5, 'memory', true],
    );
  });

  it('reads --https with or without --cert/--key, and refuses half a pair', () => {
    assert.deepEqual([parseCoordinatorArgs([]).https, parseCoordinatorArgs([]).tlsCert], [false, undefined]);
    const c = parseCoordinatorArgs(['--https', '--cert', 'c.pem', '--key', 'k.pem']);
    assert.deepEqual([c.https, c.tlsCert, c.tlsKey], [true, 'c.pem', 'k.pem']);
    assert.equal(parseCoordinatorArgs(['--https']).tlsCert, undefined);
    assert.throws(() => parseCoordinatorArgs(['--https', '--cert', 'c.pem']), /--cert and --key go together/);
    assert.throws(() => parseCoordinatorArgs(['--cert', 'c.pem', '--key', 'k.pem']), /need --https/);
  });

  it('reads --groups, and leaves the group count to the strategy without it', () => {
    assert.equal(parseCoordinatorArgs(['--groups', '3']).groups, 3);
    assert.equal(parseCoordinatorArgs([]).groups, undefined);
    assert.throws(() => parseCoordinatorArgs(['--groups', '0']), /--groups must be an integer >= 1/);
  });

  it('reads HierFedLoRA\'s planner and aggregation choices and carries them into the run\'s strategy spec', () => {
    assert.equal(parseCoordinatorArgs([]).method, undefined);
    const config = parseCoordinatorArgs(['--strategy', 'hierfedlora', '--budget-rule', 'rate', '--member-depth', 'member', '--weighting', 'work', '--lora-agg', 'exact']);
    assert.deepEqual(config.method, { budgetRule: 'rate', memberDepth: 'member', weighting: 'work', loraAggregation: 'exact' });
    const spec = strategySpecFor(runParamsFromConfig(config));
    assert.deepEqual(spec.options.planner, { localSteps: 10, budgetRule: 'rate', memberDepth: 'member' });
    assert.deepEqual(spec.options.aggregation, { weighting: 'work', lora: 'exact' });
    assert.equal(strategySpecFor(runParamsFromConfig(parseCoordinatorArgs([]))).options.aggregation, undefined);
    assert.throws(() => parseCoordinatorArgs(['--budget-rule', 'median']), /--budget-rule must be one of floor, rate, group, device, got "median"/);
    assert.throws(() => parseCoordinatorArgs(['--lora-agg', 'svd']), /--lora-agg must be one of separate, exact/);
  });

  it('reads --robust, --trim-fraction and --clip-norm; by default the cosine-weighted mean of updates clipped to the round median norm', () => {
    assert.deepEqual(parseCoordinatorArgs([]).robust, { rule: 'cosine-mean', clipNorm: 'auto' });
    assert.deepEqual(parseCoordinatorArgs(['--robust', 'mean']).robust, { rule: 'mean', clipNorm: 'auto' });
    assert.equal(parseCoordinatorArgs(['--robust', 'mean', '--clip-norm', 'off']).robust, undefined);
    assert.deepEqual(parseCoordinatorArgs(['--robust', 'median', '--clip-norm', 'off']).robust, { rule: 'median' });
    assert.deepEqual(parseCoordinatorArgs(['--robust', 'median']).robust, { rule: 'median', clipNorm: 'auto' });
    assert.deepEqual(parseCoordinatorArgs(['--robust', 'trimmed-mean']).robust, { rule: 'trimmed-mean', trimFraction: 0.2, clipNorm: 'auto' });
    assert.deepEqual(parseCoordinatorArgs(['--robust', 'trimmed-mean', '--trim-fraction', '0.1', '--clip-norm', 'auto']).robust, {
      rule: 'trimmed-mean',
      trimFraction: 0.1,
      clipNorm: 'auto',
    });
    assert.deepEqual(parseCoordinatorArgs(['--robust', 'mean', '--clip-norm', '2.5']).robust, { rule: 'mean', clipNorm: 2.5 });
    assert.throws(() => parseCoordinatorArgs(['--robust', 'krum']), /--robust must be one of mean, median, trimmed-mean/);
    assert.throws(() => parseCoordinatorArgs(['--robust', 'trimmed-mean', '--trim-fraction', '0.5']), /--trim-fraction must be a number in \[0, 0.5\)/);
    assert.throws(() => parseCoordinatorArgs(['--robust', 'trimmed-mean', '--trim-fraction', '']), /--trim-fraction/);
    assert.throws(() => parseCoordinatorArgs(['--robust', 'median', '--trim-fraction', '0.1']), /applies only to --robust trimmed-mean/);
    assert.throws(() => parseCoordinatorArgs(['--clip-norm', '0']), /--clip-norm must be a number > 0/);
    assert.throws(() => parseCoordinatorArgs(['--clip-norm', 'big']), /--clip-norm/);
    assert.equal(parseCoordinatorArgs([]).sampleWeightCap, 2);
    assert.equal(parseCoordinatorArgs(['--weight-cap', 'off']).sampleWeightCap, null);
    assert.throws(() => parseCoordinatorArgs(['--weight-cap', '0']), /--weight-cap must be a number > 0/);
    assert.equal(parseCoordinatorArgs(['--round-retries', '3']).maxRoundAttempts, 3);
    assert.equal(parseCoordinatorArgs([]).maxDevicesPerAddress, 32);
  });

  it('generates a join token when none is given', () => {
    const a = parseCoordinatorArgs([]);
    const b = parseCoordinatorArgs([]);
    assert.equal(a.tokenGenerated, true);
    assert.ok(a.token.length >= 16);
    assert.notEqual(a.token, b.token);
  });

  it('rejects bad values with a message naming the flag', () => {
    assert.throws(() => parseCoordinatorArgs(['--rounds', '0']), (e: Error) => e instanceof ConfigError && /--rounds/.test(e.message));
    assert.throws(() => parseCoordinatorArgs(['--alpha', '0']), /--alpha must be a number > 0/);
    assert.throws(() => parseCoordinatorArgs(['--strategy', 'fedsgd']), /--strategy must be one of .*fedlora/);
    assert.throws(() => parseCoordinatorArgs(['--port', '70000']), /--port/);
    assert.throws(() => parseCoordinatorArgs(['--bogus']), ConfigError);
  });
});

describe('computeMaxHttpBufferSize', () => {
  it('fits the largest payload with a margin, above Socket.IO’s silent 1 MB default when needed', () => {
    const payload = 3_000_000;
    const size = computeMaxHttpBufferSize(payload);
    assert.ok(size >= payload * 1.25 + 64 * 1024, `${size} leaves no margin`);
    assert.ok(size > 1e6);
    assert.equal(size % 1024, 0);
    assert.ok(computeMaxHttpBufferSize(1000) < computeMaxHttpBufferSize(2000));
    assert.throws(() => computeMaxHttpBufferSize(0), ConfigError);
  });
});
