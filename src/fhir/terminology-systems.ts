import ucum from '@lhncbc/ucum-lhc';

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

const ucumUtils = ucum.UcumLhcUtils.getInstance();
/** UCUM codes are printable ASCII without spaces. */
const ucumText = /^[!-~]+$/;

/**
 * Whether a text is made of what UCUM codes are made of. Checked before the
 * UCUM library sees a sender's text: the library writes a unit it fails to
 * parse to the console, which would put that text in the server's log.
 */
export function isUcumText(unit: string | undefined): unit is string {
  return unit !== undefined && ucumText.test(unit);
}

/** Verdicts on the units seen, as units repeat throughout an export (bounded: a sender may send endless distinct text). */
const ucumVerdicts = new Map<string, boolean>();

/** Whether a unit is a UCUM code without annotations: a published unit, never a sender's free text. */
export function isUcumCode(unit: string | undefined): unit is string {
  // An annotation (`mg/dL{Dr Smith}`, `{JohnSmith}`) is free text that UCUM accepts: a unit holding one is not a plain code.
  if (!isUcumText(unit) || /[{}]/.test(unit)) return false;
  let valid = ucumVerdicts.get(unit);
  if (valid === undefined) {
    valid = ucumUtils.validateUnitString(unit).status === 'valid';
    if (ucumVerdicts.size >= 1000) ucumVerdicts.clear();
    ucumVerdicts.set(unit, valid);
  }
  return valid;
}
