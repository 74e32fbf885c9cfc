import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { auditResolvers } from '../audit-events/audit.resolvers.ts';
import { authResolvers } from '../auth/auth.resolvers.ts';
import { careTeamResolvers } from '../care-teams/care-team.resolvers.ts';
import { caseResolvers } from '../cases/case.resolvers.ts';
import { consentResolvers } from '../consent/consent.resolvers.ts';
import type { Resolvers } from '../generated/graphql.ts';
import { scalarResolvers } from '../graphql/scalars.ts';
import { modelResolvers } from '../models/model.resolvers.ts';
import { patientResolvers } from '../patients/patient.resolvers.ts';
import { predictionResolvers } from '../predictions/prediction.resolvers.ts';

/** schema.graphql at the repository root: the contract front ends code against, built by `npm run schema`. */
export const contractPath = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

/** The contract the server implements. */
export const typeDefs = readFileSync(contractPath, 'utf8');

/** Every domain's resolvers; Apollo merges the maps. */
export const resolvers: Resolvers[] = [
  scalarResolvers as Resolvers,
  authResolvers,
  patientResolvers,
  caseResolvers,
  careTeamResolvers,
  consentResolvers,
  auditResolvers,
  modelResolvers,
  predictionResolvers,
];
