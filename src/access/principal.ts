/** The roles clinigraph knows; any other role a token carries is ignored. */
export const roles = ['clinician', 'admin', 'auditor', 'data_scientist'] as const;
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
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

export function isPurposeOfUse(value: unknown): value is PurposeOfUse {
  return typeof value === 'string' && (purposesOfUse as readonly string[]).includes(value);
}
