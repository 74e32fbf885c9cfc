import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';

type Interaction = 'read' | 'search-type';

/** One resource type as this server serves it: interactions, search parameters, conditional writes. */
function resource(
  type: CapabilityStatementRestResource['type'],
  interactions: Interaction[],
  searchParams: [name: string, type: 'token' | 'reference' | 'date'][],
  imports?: { updates: boolean; documentation: string },
): CapabilityStatementRestResource {
  return {
    type,
    interaction: interactions.map((code) => ({ code })),
    ...(searchParams.length ? { searchParam: searchParams.map(([name, kind]) => ({ name, type: kind })) } : {}),
    ...(imports ? { conditionalCreate: true, conditionalUpdate: imports.updates, updateCreate: false, versioning: 'no-version' as const, documentation: imports.documentation } : {}),
  };
}

/** What an import's PUT (Type?identifier=system|value or Type/{id}) does to a known record, per type. */
const patientUpdates = { updates: true, documentation: 'Imported in transaction or batch Bundles. A PUT of a known patient writes its changed name, birth date, gender, telecom and address.' };
const caseUpdates = {
  updates: true,
  documentation: 'Imported in transaction or batch Bundles as a case. A PUT of a known one writes a changed title (type text) or period.start, and closes an open one that is finished; a closed case keeps its end.',
};
const observationUpdates = {
  updates: false,
  documentation: 'Imported in transaction or batch Bundles. Observations are kept as first stored (predictions name them as their basis): a PUT of a known one is answered 200 with a note and changes nothing; send a correction as a new Observation.',
};

const exportDocumentation =
  'Also takes _deidentify: safe-harbor (HIPAA Safe Harbor, the default for de-identified exports: dates reduced to the year) or shifted-dates (each patient\'s dates shifted by a keyed offset; not Safe Harbor). The manifest extension urn:clinigraph:export-report names the profile.';

/**
 * What /fhir/R4 supports, exactly: imports of Patient, Encounter,
 * EpisodeOfCare and Observation in transaction and batch Bundles (with
 * conditional create and update), the reads and searches below, and
 * predictions as RiskAssessment with their model version as Device.
 */
export function capabilityStatement(baseUrl: string, software: { name: string; version: string }): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-12-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    software,
    implementation: { description: 'clinigraph FHIR R4 API', url: baseUrl },
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          description: 'Bearer JWT from the configured identity provider; roles from its roles claim, or from SMART v2 scopes (README "FHIR R4").',
        },
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        // FHIR Bulk Data $export (system level and Patient/$export): Patient, Encounter, Observation as NDJSON.
        operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export', documentation: exportDocumentation }],
        resource: [
          {
            ...resource('Patient', ['read', 'search-type'], [['identifier', 'token']], patientUpdates),
            operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export', documentation: exportDocumentation }],
          },
          resource('Encounter', ['read', 'search-type'], [['patient', 'reference'], ['subject', 'reference']], caseUpdates),
          resource('EpisodeOfCare', ['read'], [], caseUpdates),
          resource('Observation', ['read', 'search-type'], [['patient', 'reference'], ['subject', 'reference'], ['code', 'token'], ['date', 'date']], observationUpdates),
          resource('RiskAssessment', ['read', 'search-type'], [['subject', 'reference'], ['patient', 'reference']]),
          resource('Device', ['read'], []),
        ],
      },
    ],
  };
}
