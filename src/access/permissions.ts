import type { Principal, PurposeOfUse, Role } from './principal.ts';

/**
 * How far a role reaches for a permission: every patient, only those it
 * cares for, or only those its own FHIR imports created or matched.
 */
export type Reach = 'all' | 'care-team' | 'imported';

/**
 * The one table of who may do what (README "Roles"). Patient-scoped
 * permissions reach every patient, the clinician's care team (plus patients
 * under an active break-glass grant), or the patients an integration client
 * imported (PatientImporter).
 */
export const permissionTable = {
  // An interface engine (integration) writes patients, cases and observations of any patient (it matches the hospital's MRNs),
  // and reads back only the patients its imports created or matched, their cases and observations; never predictions.
  'patient.read': { admin: 'all', clinician: 'care-team', integration: 'imported' },
  'patient.write': { admin: 'all', integration: 'all' },
  'clinical.read': { clinician: 'care-team', integration: 'imported' },
  'clinical.write': { clinician: 'care-team', integration: 'all' },
  // Predictions, their explanations, reviews and outcomes: clinical judgement, the clinician's alone.
  'prediction.read': { clinician: 'care-team' },
  'prediction.write': { clinician: 'care-team' },
  // Who cares for a patient and what the patient consented to: the care's business, not an interface engine's.
  'patient.governance.read': { admin: 'all', clinician: 'care-team' },
  'consent.record': { admin: 'all', clinician: 'care-team' },
  'careTeam.manage': { admin: 'all' },
  'breakGlass.open': { clinician: 'all' },
  'audit.read': { auditor: 'all' },
  'model.read': { clinician: 'all', admin: 'all', auditor: 'all', data_scientist: 'all' },
  'model.train': { data_scientist: 'all', admin: 'all' },
  'model.promote': { data_scientist: 'all', admin: 'all' },
  'model.monitor': { data_scientist: 'all', admin: 'all' },
  // Training on platform data: de-identified rows, never shown to the caller.
  'clinical.deidentified': { data_scientist: 'all', admin: 'all' },
  // Bulk FHIR exports with names and MRNs: admins only, and only for operations (the FHIR routes check the purpose).
  'clinical.export.identified': { admin: 'all' },
} as const satisfies Record<string, Partial<Record<Role, Reach>>>;

export type Permission = keyof typeof permissionTable;

/** Every action the audit log names, as `<resource>.<verb>`: a typo is a type error, not a new kind of record. */
export const actions = [
  'auth.authenticate',
  'patient.read',
  'patient.create',
  'patient.update',
  'patient.archive',
  'patient.merge',
  'patient.lookupForAudit',
  'case.read',
  'case.open',
  'case.close',
  'case.update',
  'observation.read',
  'observation.create',
  'image.read',
  'image.create',
  'prediction.read',
  'prediction.create',
  'prediction.explain',
  'prediction.review',
  'outcome.read',
  'outcome.record',
  'careTeam.read',
  'careTeam.add',
  'careTeam.remove',
  'consent.read',
  'consent.record',
  'breakGlass.open',
  'breakGlass.list',
  'audit.read',
  'audit.export',
  'audit.verify',
  'audit.checkpoint',
  'audit.prove',
  'model.read',
  'model.train',
  'model.promote',
  'model.monitor',
  'training.collect',
  'fhir.read',
  'fhir.search',
  'fhir.create',
  'fhir.update',
  'fhir.import',
  'fhir.export',
  'fhir.export.request',
  'fhir.export.download',
  'fhir.export.cancel',
] as const;

export type Action = (typeof actions)[number];

/** The purpose each role's work serves when nobody stated one. */
const purposeOfRole: Record<Role, PurposeOfUse> = { clinician: 'TREAT', admin: 'HOPERAT', auditor: 'HCOMPL', data_scientist: 'HRESCH', integration: 'HOPERAT' };

/** Which of a principal's roles an action is taken in, first match first: the log's own actions are an auditor's, the registry's a data scientist's. */
function rolesActingFor(action: Action | null): Role[] {
  if (action?.startsWith('audit.') || action === 'breakGlass.list') return ['auditor', 'admin', 'clinician', 'data_scientist'];
  if (action?.startsWith('model.') || action === 'training.collect') return ['data_scientist', 'admin', 'clinician', 'auditor'];
  return ['clinician', 'admin', 'auditor', 'data_scientist'];
}

/**
 * The purpose of use an audit record names: the one the token or the request
 * stated, else emergency treatment for break-glass access, else the purpose of
 * the role the action is taken in (auditors HCOMPL, data scientists HRESCH,
 * admins HOPERAT, clinicians TREAT).
 * @param action what is done, or null for the principal's purpose in general
 */
export function purposeOfUseFor(principal: Pick<Principal, 'roles' | 'purposeOfUse'>, action: Action | null, breakGlass = false): PurposeOfUse {
  if (principal.purposeOfUse) return principal.purposeOfUse;
  if (breakGlass) return 'ETREAT';
  const role = rolesActingFor(action).find((candidate) => principal.roles.includes(candidate));
  return role ? purposeOfRole[role] : 'TREAT';
}
