/**
 * Code systems whose codes mean the same to everyone (published
 * terminologies, and clinigraph's own feature codes): a code of one of them
 * names a concept, never a person. A sender's own systems are not among
 * them: a local code may be anything the sender typed, a name or an MRN
 * included, so de-identified exports keep only codings of these.
 */
const standardSystems = new Set([
  'http://loinc.org',
  'http://snomed.info/sct',
  'http://unitsofmeasure.org',
  'http://hl7.org/fhir/sid/icd-10',
  'http://hl7.org/fhir/sid/icd-10-cm',
  'http://www.nlm.nih.gov/research/umls/rxnorm',
  'urn:clinigraph:feature',
]);
/** HL7's own code systems (observation categories, data-absent reasons, ...). */
const hl7Terminology = 'http://terminology.hl7.org/CodeSystem/';

/** Whether codes of this system are published terminology rather than a sender's own. */
export function isStandardTerminology(system: string | undefined): boolean {
  return system !== undefined && (standardSystems.has(system) || system.startsWith(hl7Terminology));
}
