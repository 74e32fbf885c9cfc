import type { Resolvers } from '../generated/graphql.ts';
import { selectedFields } from '../graphql/selection.ts';

export const patientResolvers: Resolvers = {
  Query: {
    patient: (_, { id }, ctx) => ctx.patients.get(id),
    patientByMrn: (_, { mrn }, ctx) => ctx.patients.getByMrn(mrn),
    patientIdByMrnForAudit: (_, { mrn }, ctx) => ctx.patients.idByMrnForAudit(mrn),
    patients: (_, { filter, first, after }, ctx) => ctx.patients.list(filter, first, after),
  },
  Mutation: {
    createPatient: (_, { input }, ctx) => ctx.patients.create(input),
    updatePatient: (_, { id, input }, ctx) => ctx.patients.update(id, input),
    archivePatient: (_, { id }, ctx) => ctx.patients.archive(id),
    mergePatients: (_, { duplicateId, survivorId }, ctx) => ctx.patients.merge(duplicateId, survivorId),
  },
  Patient: {
    archived: (patient) => patient.archivedAt !== null,
    cases: (patient, _, ctx, info) => {
      const selected = selectedFields(info);
      return ctx.cases.listForPatient(patient.id, { observations: selected.has('observations'), predictions: selected.has('predictions') });
    },
  },
  PatientConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
};
