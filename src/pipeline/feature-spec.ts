import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { badOption } from './errors.ts';

const range = z.tuple([z.number(), z.number()]).refine(([low, high]) => low <= high, { message: 'low must not exceed high' });

const featureSchema = z.object({
  label: z.string().optional(),
  description: z.string().optional(),
  /** null when the source defines no unit. */
  unit: z.string().nullable().default(null),
  /** Values outside are physiologically impossible: serving refuses them. */
  possibleRange: range.nullable().optional(),
  /**
   * The clinical code FHIR observations of this feature carry (LOINC where one
   * exists, a local code otherwise), and the unit as a UCUM code when `unit`
   * is not written in UCUM: imports match observations to features by it.
   */
  code: z.object({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional(), ucum: z.string().optional() }).optional(),
  /** Names of a coded column's values, e.g. { "1": "female", "2": "male" }: explanations use them. */
  levels: z.record(z.string(), z.string().min(1)).optional(),
  /** How the column enters the model: a number, categories (one-hot), or two categories; inferred from the data when absent. */
  type: z.enum(['numeric', 'categorical', 'binary']).optional(),
  /**
   * Training data outside possibleRange (a 0 where 0 is impossible, a value in another unit): `refuse` (default) stops
   * training and names the column; `missing` treats such values as missing (e.g. a 0 that a source wrote for "not measured").
   */
  impossible: z.enum(['refuse', 'missing']).default('refuse'),
});

const specSchema = z.object({
  description: z.string().optional(),
  unitsNote: z.string().optional(),
  target: z
    .object({ name: z.string(), description: z.string().optional(), unit: z.string().nullable().optional() })
    .optional(),
  features: z.record(z.string(), featureSchema).default({}),
});

/** What is known about a data set's columns beyond the data: labels, units, types, possible ranges. */
export type FeatureSpec = z.infer<typeof specSchema>;
/** What the specification says of one column. */
export type ColumnSpec = FeatureSpec['features'][string];

/**
 * Checks a feature specification.
 * @param value parsed JSON
 * @throws PipelineError BAD_OPTION naming the first problem
 */
export function parseFeatureSpec(value: unknown): FeatureSpec {
  const parsed = specSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badOption(`The feature specification is invalid at ${issue?.path.join('.') || 'its root'}: ${issue?.message}`);
  }
  return parsed.data;
}

/**
 * Reads a feature specification from a JSON file.
 * @throws PipelineError BAD_OPTION when the file cannot be read or is invalid
 */
export async function readFeatureSpec(path: string): Promise<FeatureSpec> {
  const text = await readFile(path, 'utf8').catch(() => {
    throw badOption(`Cannot read the feature specification ${path}.`);
  });
  try {
    return parseFeatureSpec(JSON.parse(text));
  } catch (error) {
    if (error instanceof SyntaxError) throw badOption(`The feature specification ${path} is not valid JSON.`);
    throw error;
  }
}
