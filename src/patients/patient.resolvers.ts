import type { Resolvers } from '../generated/graphql.ts';
import { selectedFields, selectedUnder } from '../graphql/selection.ts';

/** What a case list brings along, from the fields selected under it. */
const caseChildren = (selected: Set<string>) => ({ observations: selected.has('observations'), predictions: selected.has('predictions') });

export const patientResolvers: Resolvers = {
  Query: {
    patient: (_, { id }, ctx, info) => {
      // A patient's cases (and what is selected under them) are read in the patient's own statement.
      const underCases = selectedUnder(info, 'cases');
      return ctx.patients.get(id, underCases && ctx.cases.alongPatient(caseChildren(underCases)));
    },
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
    cases: (patient, _, ctx, info) => ctx.cases.listForPatient(patient.id, caseChildren(selectedFields(info))),
  },
  PatientConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
};
