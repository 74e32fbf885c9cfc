import type { SmartScope } from './smart-scopes.ts';

/** The roles clinigraph knows; any other role a token carries is ignored. */
export const roles = ['clinician', 'admin', 'auditor', 'data_scientist', 'integration'] as const;
export type Role = (typeof roles)[number];

/** Why data is accessed (HL7 v3 PurposeOfUse codes). */
export const purposesOfUse = ['TREAT', 'ETREAT', 'COC', 'HOPERAT', 'HQUALIMP', 'HRESCH', 'PUBHLTH', 'HSYSADMIN', 'HCOMPL'] as const;
export type PurposeOfUse = (typeof purposesOfUse)[number];

/** Who is asking, as verified from their token. */
export interface Principal {
  subject: string;
  roles: Role[];
  /** The purpose the token or the request stated; null when both are silent (see purposeOfUseFor). */
  purposeOfUse: PurposeOfUse | null;
  /** SMART scopes the token carried (absent: no `scope` claim); they narrow what the FHIR API lets it do. */
  smartScopes?: SmartScope[];
  /** The token's `patient` claim (SMART launch context): the one patient its `patient/` scopes reach. */
  launchPatient?: string;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

export function isPurposeOfUse(value: unknown): value is PurposeOfUse {
  return typeof value === 'string' && (purposesOfUse as readonly string[]).includes(value);
}
