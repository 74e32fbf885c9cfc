import { fileURLToPath } from 'node:url';

/** The path of a file in test/pipeline/fixtures. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}
