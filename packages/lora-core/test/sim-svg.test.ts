import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { niceTicks, renderCurvesSvg } from '../src/sim';

describe('curves SVG', () => {
  it('draws one polyline per series per panel, a dashed target, escaped labels', () => {
    const svg = renderCurvesSvg({
      title: 'a < b & c',
      xLabel: 'simulated time (s)',
      yLabel: 'accuracy',
      panels: [
        { title: 'α = 0.1', target: 0.4, series: [{ name: 'fedlora', points: [[0, 0.1], [10, 0.3]] }, { name: 'hierfedlora', points: [[0, 0.1], [5, 0.45]] }] },
        { title: 'α = 0.5', series: [{ name: 'fedlora', points: [[0, 0.1], [12, 0.5]] }] },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline /g)?.length, 3);
    assert.equal(svg.match(/stroke-dasharray/g)?.length, 1);
    assert.ok(svg.includes('a &lt; b &amp; c') && !svg.includes('a < b'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    // Same series name, same colour in both panels.
    const colours = [...svg.matchAll(/<polyline points="[^"]*" fill="none" stroke="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
    assert.equal(colours[0], colours[2]);
    assert.notEqual(colours[0], colours[1]);
  });

  it('ticks are round numbers covering the range', () => {
    assert.deepEqual(niceTicks(0, 0.47), [0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    assert.deepEqual(niceTicks(0, 230), [0, 50, 100, 150, 200, 250]);
  });
});
