import { createHash } from 'node:crypto';
import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Resolver types generated from schema.graphql (the contract); resolvers are
 * typed against it so the contract and the code cannot disagree. Parent types
 * are the Prisma models (mappers), so resolvers receive what the data access
 * layer returns.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  generates: {
    // The console's operations (console/src/**/*.graphql), typed by the client preset; as strings, so the browser needs no graphql runtime.
    'console/src/generated/': {
      documents: 'console/src/**/*.graphql',
      preset: 'client',
      config: { documentMode: 'string', enumsAsTypes: true, useTypeImports: true, scalars: { DateTime: 'string', Date: 'string', EmailAddress: 'string', JSON: 'unknown' } },
      // persisted-documents.json: the console's operations by SHA-256, usable as TRUSTED_DOCUMENTS.
      presetConfig: {
        fragmentMasking: false,
        persistedDocuments: { mode: 'embedHashInDocument', hashAlgorithm: (body: string) => createHash('sha256').update(body).digest('hex') },
      },
    },
    'src/generated/graphql.ts': {
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        useIndexSignature: false,
        contextType: '../server/context.ts#RequestContext',
        scalars: {
          DateTime: 'Date',
          Date: 'Date',
          EmailAddress: 'string',
          JSON: 'unknown',
        },
        mappers: {
          Patient: '../generated/prisma/client.ts#Patient as PatientModel',
          Case: '../generated/prisma/client.ts#Case as CaseModel',
          Observation: '../generated/prisma/client.ts#Observation as ObservationModel',
          CaseImage: '../generated/prisma/client.ts#CaseImage as CaseImageModel',
          PatientConnection: '../graphql/paging.ts#Connection<PatientModel>',
          CareTeamMember: '../generated/prisma/client.ts#CareTeamMember as CareTeamMemberModel',
          BreakGlassGrant: '../generated/prisma/client.ts#BreakGlassGrant as BreakGlassGrantModel',
          BreakGlassGrantConnection: '../graphql/paging.ts#Connection<BreakGlassGrantModel>',
          ConsentRecord: '../generated/prisma/client.ts#ConsentRecord as ConsentRecordModel',
          AuditEvent: '../generated/prisma/client.ts#AuditEvent as AuditEventModel',
          AuditEventConnection: '../graphql/paging.ts#Connection<AuditEventModel>',
          Principal: '../access/principal.ts#Principal as PrincipalModel',
          Model: '../generated/prisma/client.ts#Model as ModelModel',
          ModelVersion: '../models/model.repository.ts#ModelVersionSummary',
          TrainingJob: '../generated/prisma/client.ts#TrainingJob as TrainingJobModel',
          TrainingJobConnection: '../graphql/paging.ts#Connection<TrainingJobModel>',
          Prediction: '../predictions/prediction.repository.ts#PredictionRecord',
          CaseOutcome: '../generated/prisma/client.ts#CaseOutcome as CaseOutcomeModel',
          ModelFeature: '../pipeline/index.ts#FeatureInfo',

        },
      },
    },
  },
};

export default config;
