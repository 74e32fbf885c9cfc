import type { Role } from './principal.ts';

/*
 * SMART App Launch v2 scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * `context/resource.permissions`, context one of patient, user, system;
 * permissions a subset of c r u d s in that order (v1's read / write / * are
 * read as rs / cud / cruds). Scopes with a query (`?category=...`) grant
 * nothing here: clinigraph cannot enforce their filter.
 */

export type ScopeContext = 'patient' | 'user' | 'system';
export type ScopePermission = 'c' | 'r' | 'u' | 'd' | 's';

export interface SmartScope {
  context: ScopeContext;
  /** A FHIR resource type, or `*` for all. */
  resourceType: string;
  permissions: ReadonlySet<ScopePermission>;
}

const v1Permissions: Record<string, string> = { read: 'rs', write: 'cud', '*': 'cruds' };
const scopePattern = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)$/;

/** The SMART resource scopes of a token's `scope` claim (space-separated); undefined when the claim is absent. */
export function parseSmartScopes(claim: unknown): SmartScope[] | undefined {
  if (typeof claim !== 'string') return undefined;
  return claim
    .split(/\s+/)
    .map((scope) => scopePattern.exec(scope))
    .filter((match) => match !== null && match[3] !== '')
    .map((match) => ({
      context: match![1] as ScopeContext,
      resourceType: match![2]!,
      permissions: new Set([...(v1Permissions[match![3]!] ?? match![3]!)] as ScopePermission[]),
    }));
}

/** Resource types an interface engine imports. */
const importedTypes = new Set(['*', 'Patient', 'Encounter', 'EpisodeOfCare', 'Observation']);

/**
 * The clinigraph roles a token without a roles claim gets from its scopes:
 * `system/` create or update of what imports carry (a SMART Backend Services
 * client) is an `integration`; `user/` read or search is a `clinician`
 * (reaching only their care team). `patient/` scopes give no role: clinigraph
 * has no patient-facing access.
 */
export function rolesFromSmartScopes(scopes: SmartScope[]): Role[] {
  const roles = new Set<Role>();
  for (const scope of scopes) {
    const writes = scope.permissions.has('c') || scope.permissions.has('u');
    if (scope.context === 'system' && writes && importedTypes.has(scope.resourceType)) roles.add('integration');
    if (scope.context === 'user' && (scope.permissions.has('r') || scope.permissions.has('s'))) roles.add('clinician');
  }
  return [...roles];
}

/**
 * What the scopes grant for an interaction (one permission letter) on a
 * resource type: `all` (a `user/` or `system/` scope: whatever the role
 * reaches), `patient` (only `patient/` scopes: the token's launch patient
 * alone), or `none`.
 */
export type ScopeGrant = 'all' | 'patient' | 'none';

export function scopeGrant(scopes: SmartScope[], resourceType: string, permission: ScopePermission): ScopeGrant {
  const allowing = scopes.filter((scope) => (scope.resourceType === '*' || scope.resourceType === resourceType) && scope.permissions.has(permission));
  if (allowing.some((scope) => scope.context !== 'patient')) return 'all';
  return allowing.length > 0 ? 'patient' : 'none';
}
