import { fhirError } from './operation-outcome.ts';

/** A query string as Fastify parses it: a parameter given twice arrives as an array. */
export type SearchParams = Record<string, string | string[] | undefined>;

/** Every value of a parameter that may repeat (FHIR search ANDs repeated parameters); none when absent. */
export function repeatedParam(params: SearchParams, name: string): string[] {
  const value = params[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The value of a parameter that may be given once; a repeated one is refused with 400 naming it. */
export function singleParam(params: SearchParams, name: string): string | undefined {
  const values = repeatedParam(params, name);
  if (values.length > 1) throw fhirError(400, 'invalid', `${name} may be given once.`, name);
  return values[0];
}
