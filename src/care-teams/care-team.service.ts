import { recordingFailure } from '../access/audited-transaction.ts';
import type { AuditTrail } from '../access/audit-trail.ts';
import { type Connection, decodeCursor, pageSize } from '../graphql/paging.ts';
import { boundedText, isId, parseId, parseInput } from '../graphql/validation.ts';
import type { PatientService } from '../patients/patient.service.ts';
import type { BreakGlassGrant, CareTeamMember, CareTeamRepository } from './care-team.repository.ts';

const clinicianSubject = boundedText(256);
/** The distinct words of a text: runs of two or more letters, other than one letter repeated. */
const wordsOf = (text: string) => new Set((text.toLowerCase().match(/\p{L}{2,}/gu) ?? []).filter((word) => !/^(\p{L})\1*$/u.test(word)));

// A reason an auditor can judge later: a few words at least, not a key held down.
const breakGlassReason = boundedText(1000)
  .min(10, { message: 'give a reason of at least 10 characters' })
  .refine((text) => wordsOf(text).size >= 3, { message: 'give the reason in words (at least three different words), e.g. "unconscious patient in the emergency room"' });

/** Care teams (managed by admins) and break-glass access (opened by clinicians). */
export class CareTeamService {
  constructor(
    private readonly careTeams: CareTeamRepository,
    private readonly patients: PatientService,
    private readonly trail: AuditTrail,
    private readonly breakGlassMinutes: number,
    private readonly maxPageSize: number,
  ) {}

  members(patientId: string): Promise<CareTeamMember[]> {
    return this.careTeams.members(patientId);
  }

  addMember(patientId: string, subject: string): Promise<CareTeamMember[]> {
    return recordingFailure(this.trail, 'careTeam.add', target(patientId), async () => {
      const patient = await this.patients.requireActive(parseId(patientId, 'patientId'));
      await this.careTeams.add(patient.id, parseInput(clinicianSubject, subject, 'clinicianSubject'));
      return this.careTeams.members(patient.id);
    });
  }

  removeMember(patientId: string, subject: string): Promise<CareTeamMember[]> {
    return recordingFailure(this.trail, 'careTeam.remove', target(patientId), async () => {
      const patient = await this.patients.requireExisting(parseId(patientId, 'patientId'));
      await this.careTeams.remove(patient.id, parseInput(clinicianSubject, subject, 'clinicianSubject'));
      return this.careTeams.members(patient.id);
    });
  }

  openBreakGlass(patientId: string, reason: string): Promise<BreakGlassGrant> {
    return recordingFailure(this.trail, 'breakGlass.open', target(patientId), async () => {
      const id = parseId(patientId, 'patientId');
      const justification = parseInput(breakGlassReason, reason, 'reason');
      return this.careTeams.openBreakGlass(id, justification, this.breakGlassMinutes);
    });
  }

  grants(filter: { from?: Date | null; to?: Date | null; clinicianSubject?: string | null }, first: number, after?: string | null): Promise<Connection<BreakGlassGrant>> {
    return this.careTeams.grants(
      {
        ...(filter.from ? { from: filter.from } : {}),
        ...(filter.to ? { to: filter.to } : {}),
        ...(filter.clinicianSubject ? { clinicianSubject: filter.clinicianSubject } : {}),
      },
      pageSize(first, this.maxPageSize),
      after ? decodeCursor(after) : undefined,
    );
  }
}

const target = (patientId: string) => ({ resourceType: 'Patient', resourceIds: isId(patientId) ? [patientId] : [], patientIds: isId(patientId) ? [patientId] : [] });
