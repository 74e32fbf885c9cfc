import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createRandom } from '../../src/pipeline/random.ts';

/** Lab columns of the synthetic file: with age, sex, smoking and the outcome, 20 columns. */
const labs = Array.from({ length: 16 }, (_, i) => `lab_${String(i + 1).padStart(2, '0')}`);
export const clinicalColumns = ['age', 'sex', 'smoking', ...labs, 'outcome'];

/**
 * Writes a synthetic clinical CSV of the given size: age, sex, smoking, 16
 * lab values (about 3% missing) and a yes/no outcome from a logistic model of
 * a few of them (prevalence about 25%). Seeded, so equal arguments give equal files.
 * @param path the file to write
 * @param rows data rows
 * @param seed the generator's seed
 */
export async function writeClinicalCsv(path: string, rows: number, seed = 1): Promise<void> {
  const random = createRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(`${clinicalColumns.join(',')}\n`);
  let chunk = '';
  for (let row = 0; row < rows; row++) {
    const age = Math.round(18 + random.next() * 72);
    const sex = random.next() < 0.5 ? 'F' : 'M';
    const smoking = ['never', 'former', 'current'][random.int(3)]!;
    const values = labs.map(() => normal());
    const logit = -1.6 + 0.03 * (age - 55) + 0.8 * values[0]! - 0.6 * values[1]! + 0.4 * values[2]! * values[3]! + (sex === 'M' ? 0.3 : 0) + (smoking === 'current' ? 0.5 : 0);
    const outcome = random.next() < 1 / (1 + Math.exp(-logit)) ? 'yes' : 'no';
    const labText = values.map((value, i) => (random.next() < 0.03 ? '' : (50 + 10 * i + 5 * value).toFixed(2)));
    chunk += `${age},${sex},${smoking},${labText.join(',')},${outcome}\n`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  out.end();
  await once(out, 'finish');
}
