import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calibrationSvg, predictedObservedSvg, residualsSvg, rocCurveSvg } from '../../src/pipeline/plots.ts';

/** The y of every <text> whose content matches. */
const textY = (svg: string, content: RegExp) => [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)"[^>]*>([^<]*)<\/text>/g)].filter((m) => content.test(m[2]!)).map((m) => Number(m[1]));
const plotBottom = (svg: string) => {
  const [, y, height] = /<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="none"/.exec(svg)!;
  return Number(y) + Number(height);
};

describe('plots', () => {
  const identical = [{ threshold: null, fpr: 0, tpr: 0 }, { threshold: 0.5, fpr: 0, tpr: 1 }, { threshold: 0.1, fpr: 1, tpr: 1 }];
  const roc = rocCurveSvg([{ name: 'model', points: identical }, { name: 'logistic regression', points: identical }]);

  it('keeps the axis title clear of the tick labels, and the legend below the plot, off the data', () => {
    const tickLabels = textY(roc, /^(0|0\.25|0\.5|0\.75|1)$/).filter((y) => y > plotBottom(roc) + 8);
    const [title] = textY(roc, /False positive rate/);
    assert.ok(tickLabels.length === 5 && title! - Math.max(...tickLabels) >= 14, `title at ${title}, ticks at ${Math.max(...tickLabels)}`);
    const legend = textY(roc, /^(model|logistic regression)$/);
    assert.ok(legend.every((y) => y > title! + 4), `legend ${legend} below the axis title ${title}`);
    assert.match(roc, /viewBox="0 0 360 398"/);
  });

  it('draws a second series dashed, so curves on top of each other both show', () => {
    const lines = [...roc.matchAll(/<polyline [^>]*>/g)].map((m) => m[0]);
    assert.equal(lines.length, 2);
    assert.doesNotMatch(lines[0]!, /stroke-dasharray/);
    assert.match(lines[1]!, /stroke-dasharray="6 3"/);
    const bins = [{ lower: 0, upper: 0.5, count: 10, meanPredicted: 0.3, observed: 0.3 }];
    assert.match(calibrationSvg([{ name: 'model', bins }, { name: 'baseline', bins }]), /<circle [^>]*fill="none" stroke="#c4571a"/);
  });

  it('plots regression models: predicted against observed, and residuals around zero', () => {
    const series = [{ name: 'model', observed: [100, 150, 200], predicted: [110, 140, 210] }];
    const scatter = predictedObservedSvg(series, 'progression');
    assert.equal([...scatter.matchAll(/<circle /g)].length, 3);
    assert.match(scatter, />Observed progression</);
    const residuals = residualsSvg(series, 'progression');
    assert.match(residuals, />Residual \(observed - predicted\)</);
    assert.match(residuals, />Predicted progression</);
  });
});
