/*
 * ROC and calibration plots as standalone SVG strings, drawn by hand so that
 * a model card needs no plotting library and no browser. Both plots map the
 * unit square [0, 1] x [0, 1] to the same frame.
 */
import type { CalibrationBin, RocPoint } from './metrics.ts';

export interface RocSeries {
  name: string;
  points: RocPoint[];
}

export interface CalibrationSeries {
  name: string;
  bins: CalibrationBin[];
}

const size = 360;
const margin = { left: 52, right: 16, top: 34, bottom: 46 };
const plot = size - margin.left - margin.right;
const colours = ['#1f5fa8', '#c4571a', '#3a8a3a'];

const x = (value: number) => (margin.left + value * plot).toFixed(1);
const y = (value: number) => (margin.top + (1 - value) * plot).toFixed(1);

/**
 * The ROC curves of one or more models.
 * @param series a curve per model (the first drawn most prominently)
 * @param title text above the plot
 * @returns an SVG document
 */
export function rocCurveSvg(series: readonly RocSeries[], title = 'ROC curve (test split)'): string {
  const curves = series.map(
    (item, k) =>
      `<polyline fill="none" stroke="${colours[k % colours.length]}" stroke-width="${k === 0 ? 2.5 : 1.5}" points="${item.points.map((point) => `${x(point.fpr)},${y(point.tpr)}`).join(' ')}"/>`,
  );
  return frame(title, 'False positive rate (1 - specificity)', 'True positive rate (sensitivity)', [...curves, legend(series.map((item) => item.name))]);
}

/**
 * A reliability diagram: observed event rate against mean predicted probability per bin, dots sized by the bin's rows.
 * @param series bins per model (from calibrationBins)
 * @param title text above the plot
 * @returns an SVG document
 */
export function calibrationSvg(series: readonly CalibrationSeries[], title = 'Calibration (test split)'): string {
  const drawn = series.flatMap((item, k) => {
    const colour = colours[k % colours.length];
    const filled = item.bins.filter((bin) => bin.count > 0);
    const largest = Math.max(1, ...filled.map((bin) => bin.count));
    const line = `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${filled.map((bin) => `${x(bin.meanPredicted!)},${y(bin.observed!)}`).join(' ')}"/>`;
    const dots = filled.map(
      (bin) =>
        `<circle cx="${x(bin.meanPredicted!)}" cy="${y(bin.observed!)}" r="${(2.5 + 4 * Math.sqrt(bin.count / largest)).toFixed(1)}" fill="${colour}" fill-opacity="0.7"><title>${bin.lower.toFixed(1)}-${bin.upper.toFixed(1)}: ${bin.count} rows</title></circle>`,
    );
    return [line, ...dots];
  });
  return frame(title, 'Mean predicted probability', 'Observed rate', [...drawn, legend(series.map((item) => item.name))]);
}

/** An SVG as a data: URI, for an image link in Markdown or HTML. */
export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

function frame(title: string, xLabel: string, yLabel: string, content: string[]): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].flatMap((t) => [
    `<line x1="${x(t)}" y1="${y(0)}" x2="${x(t)}" y2="${y(1)}" stroke="#e4e4e4"/>`,
    `<line x1="${x(0)}" y1="${y(t)}" x2="${x(1)}" y2="${y(t)}" stroke="#e4e4e4"/>`,
    `<text x="${x(t)}" y="${Number(y(0)) + 16}" text-anchor="middle">${t}</text>`,
    `<text x="${margin.left - 6}" y="${Number(y(t)) + 4}" text-anchor="end">${t}</text>`,
  ]);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" font-family="sans-serif" font-size="11">`,
    `<rect width="${size}" height="${size}" fill="white"/>`,
    `<text x="${size / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    ...ticks,
    `<rect x="${x(0)}" y="${y(1)}" width="${plot}" height="${plot}" fill="none" stroke="#888"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#999" stroke-dasharray="4 4"/>`,
    `<text x="${margin.left + plot / 2}" y="${size - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(14 ${margin.top + plot / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    ...content,
    '</svg>',
  ].join('\n');
}

function legend(names: string[]): string {
  return names
    .map((name, k) => {
      const top = margin.top + plot - 14 * (names.length - k) - 4;
      const left = margin.left + plot - 130;
      return `<line x1="${left}" y1="${top}" x2="${left + 18}" y2="${top}" stroke="${colours[k % colours.length]}" stroke-width="2.5"/><text x="${left + 24}" y="${top + 4}">${escapeXml(name)}</text>`;
    })
    .join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
