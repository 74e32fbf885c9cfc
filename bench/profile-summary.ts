#!/usr/bin/env tsx
/**
 * Summarizes a V8 CPU profile (.cpuprofile, as `npm run bench -- --profile DIR`
 * or `node --cpu-prof` writes them): where the time went, by package or
 * source file (self time), and the functions with the most self and total
 * (inclusive) time.
 *
 *   npx tsx bench/profile-summary.ts DIR/read-audit-on-*.cpuprofile [--top 25] [--match audit]
 *
 * --match keeps only functions whose name or file contains the text in the
 * inclusive-time list (e.g. --match src/ for clinigraph's own code).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which package (or clinigraph source file, or V8/Node part) a frame belongs to. */
function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/V8)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

export async function summarize(file: string, top = 25, match?: string): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (node: ProfileNode) => `${node.callFrame.functionName || '(anonymous)'} ${area(node.callFrame.url, node.callFrame.functionName)}:${node.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areaInclusive = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!)!;
    totalUs += dt;
    self.set(key(node), (self.get(key(node)) ?? 0) + dt);
    const where = area(node.callFrame.url, node.callFrame.functionName);
    areas.set(where, (areas.get(where) ?? 0) + dt);
    const seen = new Set<string>();
    const seenAreas = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!;
      const k = key(frame);
      const a = area(frame.callFrame.url, frame.callFrame.functionName);
      if (!seenAreas.has(a)) {
        seenAreas.add(a);
        areaInclusive.set(a, (areaInclusive.get(a) ?? 0) + dt);
      }
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const busy = totalUs - (areas.get('(idle)') ?? 0);
  const lines: string[] = [];
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  lines.push(`${file}: ${(totalUs / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (not idle); shares are of busy time`);
  lines.push('\nSelf time by area (package, source file, or V8):');
  for (const [name, us] of [...areas].filter(([n]) => n !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)} ${ms(us)}  ${name}`);
  lines.push('\nTotal time by area (samples with the area anywhere on the stack; async callers are not on it):');
  for (const [name, us] of [...areaInclusive].filter(([n]) => !n.startsWith('(')).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)} ${ms(us)}  ${name}`);
  lines.push('\nFunctions by self time:');
  for (const [name, us] of [...self].filter(([n]) => !n.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)} ${ms(us)}  ${name}`);
  lines.push(`\nFunctions by total (inclusive) time${match ? `, matching "${match}"` : ''}:`);
  for (const [name, us] of [...inclusive]
    .filter(([n]) => !n.startsWith('(root)') && !n.startsWith('(idle)') && (!match || n.includes(match)))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    lines.push(`${pct(us)} ${ms(us)}  ${name}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, match: { type: 'string' } } });
  if (positionals.length === 0) {
    console.error('usage: tsx bench/profile-summary.ts FILE.cpuprofile... [--top N] [--match TEXT]');
    process.exit(2);
  }
  for (const file of positionals) console.log(`${await summarize(file, Number(values.top), values.match)}\n`);
}
