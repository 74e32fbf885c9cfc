/*
 * Plots as standalone SVG strings, drawn by hand so that a model card needs no
 * plotting library and no browser: ROC and calibration (classifiers),
 * predicted against observed and residuals (regression). Axis titles sit
 * below and left of the tick labels, legends below the plot (never over
 * data), and every series after the first is dashed so that curves lying on
 * top of each other both stay visible.
 */
import type { CalibrationBin, RocPoint } from './metrics.ts';
import { formatNumber } from './stats.ts';

export interface RocSeries {
  name: string;
  points: RocPoint[];
}

export interface CalibrationSeries {
  name: string;
  bins: CalibrationBin[];
}

/** Observed and predicted values of the test rows (regression). */
export interface ScatterSeries {
  name: string;
  observed: number[];
  predicted: number[];
}

interface Axis {
  label: string;
  min: number;
  max: number;
}

const width = 360;
const margin = { left: 60, right: 16, top: 34, bottom: 56 };
const plot = width - margin.left - margin.right;
const legendLine = 15;
const colours = ['#1f5fa8', '#c4571a', '#3a8a3a'];
const unit: [number, number] = [0, 1];

/** Every series after the first is dashed, so that overlapping curves both show. */
const stroke = (k: number) => `stroke="${colours[k % colours.length]}" stroke-width="${k === 0 ? 2.5 : 1.5}"${k === 0 ? '' : ' stroke-dasharray="6 3"'}`;

/**
 * The ROC curves of one or more models.
 * @param series a curve per model (the first drawn most prominently)
 * @param title text above the plot
 * @returns an SVG document
 */
export function rocCurveSvg(series: readonly RocSeries[], title = 'ROC curve (test split)'): string {
  const chart = new Chart(title, { label: 'False positive rate (1 - specificity)', min: 0, max: 1 }, { label: 'True positive rate (sensitivity)', min: 0, max: 1 });
  const curves = series.map((item, k) => `<polyline fill="none" ${stroke(k)} points="${item.points.map((point) => chart.point(point.fpr, point.tpr)).join(' ')}"/>`);
  return chart.render([chart.diagonal(), ...curves], series.map((item) => item.name));
}

/**
 * A reliability diagram: observed event rate against mean predicted probability per bin, dots sized by the bin's rows.
 * @param series bins per model (from calibrationBins)
 * @param title text above the plot
 * @returns an SVG document
 */
export function calibrationSvg(series: readonly CalibrationSeries[], title = 'Calibration (test split)'): string {
  const chart = new Chart(title, { label: 'Mean predicted probability', min: 0, max: 1 }, { label: 'Observed rate', min: 0, max: 1 });
  const drawn = series.flatMap((item, k) => {
    const colour = colours[k % colours.length];
    const filled = item.bins.filter((bin) => bin.count > 0);
    const largest = filled.reduce((most, bin) => Math.max(most, bin.count), 1);
    const line = `<polyline fill="none" ${stroke(k)} points="${filled.map((bin) => chart.point(bin.meanPredicted!, bin.observed!)).join(' ')}"/>`;
    const dots = filled.map((bin) => {
      const [cx, cy] = chart.point(bin.meanPredicted!, bin.observed!).split(',');
      // Later series are hollow rings, so a dot on top of another leaves both visible.
      const paint = k === 0 ? `fill="${colour}" fill-opacity="0.7"` : `fill="none" stroke="${colour}" stroke-width="1.5"`;
      return `<circle cx="${cx}" cy="${cy}" r="${(2.5 + 4 * Math.sqrt(bin.count / largest)).toFixed(1)}" ${paint}><title>${bin.lower.toFixed(1)}-${bin.upper.toFixed(1)}: ${bin.count} rows</title></circle>`;
    });
    return [line, ...dots];
  });
  return chart.render([chart.diagonal(), ...drawn], series.map((item) => item.name));
}

/**
 * Regression: predicted against observed values of the test rows, with the line of perfect prediction.
 * @returns an SVG document
 */
export function predictedObservedSvg(series: readonly ScatterSeries[], target: string, title = 'Predicted against observed (test split)'): string {
  const values = series.flatMap((item) => [...item.observed, ...item.predicted]);
  const [min, max] = paddedRange(values);
  const chart = new Chart(title, { label: `Observed ${target}`, min, max }, { label: `Predicted ${target}`, min, max });
  const dots = series.flatMap((item, k) => item.observed.map((observed, i) => dot(chart.point(observed, item.predicted[i]!), k)));
  return chart.render([chart.diagonal(), ...dots], series.map((item) => item.name));
}

/**
 * Regression: residuals (observed - predicted) against predicted values, with the zero line.
 * @returns an SVG document
 */
export function residualsSvg(series: readonly ScatterSeries[], target: string, title = 'Residuals (test split)'): string {
  const residuals = series.map((item) => item.observed.map((observed, i) => observed - item.predicted[i]!));
  const [xMin, xMax] = paddedRange(series.flatMap((item) => item.predicted));
  const [yMin, yMax] = paddedRange([...residuals.flat(), 0]);
  const chart = new Chart(title, { label: `Predicted ${target}`, min: xMin, max: xMax }, { label: 'Residual (observed - predicted)', min: yMin, max: yMax });
  const zero = `<line x1="${chart.x(xMin)}" y1="${chart.y(0)}" x2="${chart.x(xMax)}" y2="${chart.y(0)}" stroke="#999" stroke-dasharray="4 4"/>`;
  const dots = series.flatMap((item, k) => item.predicted.map((predicted, i) => dot(chart.point(predicted, residuals[k]![i]!), k)));
  return chart.render([zero, ...dots], series.map((item) => item.name));
}

/** An SVG as a data: URI, for an image link in Markdown or HTML. */
export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** Filled dots for the first series, hollow rings for the others. */
function dot(point: string, k: number): string {
  const [cx, cy] = point.split(',');
  const colour = colours[k % colours.length];
  return k === 0 ? `<circle cx="${cx}" cy="${cy}" r="2.5" fill="${colour}" fill-opacity="0.6"/>` : `<circle cx="${cx}" cy="${cy}" r="3" fill="none" stroke="${colour}"/>`;
}

function paddedRange(values: readonly number[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  if (!Number.isFinite(min)) return unit;
  const pad = (max - min || 1) * 0.05;
  return [min - pad, max + pad];
}

/** A square plot with its axes, ticks, titles and a legend below. */
class Chart {
  constructor(
    private readonly title: string,
    private readonly xAxis: Axis,
    private readonly yAxis: Axis,
  ) {}

  x(value: number): string {
    return (margin.left + ((value - this.xAxis.min) / (this.xAxis.max - this.xAxis.min)) * plot).toFixed(1);
  }

  y(value: number): string {
    return (margin.top + (1 - (value - this.yAxis.min) / (this.yAxis.max - this.yAxis.min)) * plot).toFixed(1);
  }

  point(x: number, y: number): string {
    return `${this.x(x)},${this.y(y)}`;
  }

  /** The line y = x (chance for ROC, perfect calibration or prediction otherwise). */
  diagonal(): string {
    const low = Math.max(this.xAxis.min, this.yAxis.min);
    const high = Math.min(this.xAxis.max, this.yAxis.max);
    return `<line x1="${this.x(low)}" y1="${this.y(low)}" x2="${this.x(high)}" y2="${this.y(high)}" stroke="#999" stroke-dasharray="4 4"/>`;
  }

  render(content: string[], names: string[]): string {
    const bottom = margin.top + plot;
    const height = width + legendLine * names.length + 8;
    const ticks = [0, 0.25, 0.5, 0.75, 1].flatMap((t) => {
      const xValue = this.xAxis.min + t * (this.xAxis.max - this.xAxis.min);
      const yValue = this.yAxis.min + t * (this.yAxis.max - this.yAxis.min);
      return [
        `<line x1="${this.x(xValue)}" y1="${this.y(this.yAxis.min)}" x2="${this.x(xValue)}" y2="${this.y(this.yAxis.max)}" stroke="#e4e4e4"/>`,
        `<line x1="${this.x(this.xAxis.min)}" y1="${this.y(yValue)}" x2="${this.x(this.xAxis.max)}" y2="${this.y(yValue)}" stroke="#e4e4e4"/>`,
        `<text x="${this.x(xValue)}" y="${bottom + 15}" text-anchor="middle">${formatNumber(xValue, 3)}</text>`,
        `<text x="${margin.left - 6}" y="${Number(this.y(yValue)) + 4}" text-anchor="end">${formatNumber(yValue, 3)}</text>`,
      ];
    });
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
      `<rect width="${width}" height="${height}" fill="white"/>`,
      `<text x="${width / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(this.title)}</text>`,
      ...ticks,
      `<rect x="${margin.left}" y="${margin.top}" width="${plot}" height="${plot}" fill="none" stroke="#888"/>`,
      // Axis titles beyond the tick labels: below the x labels, left of the widest y label.
      `<text x="${margin.left + plot / 2}" y="${bottom + 36}" text-anchor="middle">${escapeXml(this.xAxis.label)}</text>`,
      `<text transform="translate(12 ${margin.top + plot / 2}) rotate(-90)" text-anchor="middle">${escapeXml(this.yAxis.label)}</text>`,
      ...content,
      ...names.map((name, k) => {
        const top = width + 6 + legendLine * k;
        return `<line x1="${margin.left}" y1="${top}" x2="${margin.left + 22}" y2="${top}" ${stroke(k)}/><text x="${margin.left + 28}" y="${top + 4}">${escapeXml(name)}</text>`;
      }),
      '</svg>',
    ].join('\n');
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
