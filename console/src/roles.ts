/** The console's sections, one per role the server knows; a user sees the sections of the roles their token carries. */
export const sections = [
  { role: 'admin', path: '/admin', title: 'Records' },
  { role: 'auditor', path: '/auditor', title: 'Audit' },
  { role: 'clinician', path: '/clinician', title: 'Care' },
  { role: 'data_scientist', path: '/data-scientist', title: 'Models' },
] as const;

export function sectionsFor(roles: string[]) {
  return sections.filter((section) => roles.includes(section.role));
}

/** Where a user lands after signing in: their first role's section. */
export function roleHome(roles: string[]): string {
  return sectionsFor(roles)[0]?.path ?? '/no-role';
}
