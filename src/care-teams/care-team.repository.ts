import { randomUUID } from 'node:crypto';
import { type AccessRule, patientOwner } from '../access/owned-record-store.ts';
import type { Scope } from '../access/scope.ts';
import type { BreakGlassGrant, CareTeamMember, Prisma } from '../generated/prisma/client.ts';
import { afterPositionNewestFirst, type Connection, encodeCursor, type KeysetPosition, toConnection } from '../graphql/paging.ts';

export type { BreakGlassGrant, CareTeamMember };

const manage = (action: 'careTeam.add' | 'careTeam.remove'): AccessRule => ({ permission: 'careTeam.manage', action, resourceType: 'CareTeamMember' });
const memberId = (patientId: string, clinicianSubject: string) => `${patientId}/${clinicianSubject}`;

/** Care-team membership and break-glass grants: who may reach which patient. */
export class CareTeamRepository {
  constructor(private readonly scope: Scope) {}

  members(patientId: string): Promise<CareTeamMember[]> {
    return this.scope.records.read({ permission: 'patient.governance.read', action: 'careTeam.read', resourceType: 'Patient' }, patientOwner(patientId), () =>
      this.scope.prisma.careTeamMember.findMany({ where: { patientId }, orderBy: { addedAt: 'asc' } }),
    );
  }

  async add(patientId: string, clinicianSubject: string): Promise<void> {
    await this.scope.records.write(
      manage('careTeam.add'),
      [patientOwner(patientId)],
      (tx) =>
        tx.careTeamMember.upsert({
          where: { patientId_clinicianSubject: { patientId, clinicianSubject } },
          create: { patient: { connect: { id: patientId } }, clinicianSubject, addedBy: this.scope.access.subject },
          update: {},
        }),
      () => ({ resourceIds: [memberId(patientId, clinicianSubject)] }),
    );
    this.scope.access.forget(patientId);
  }

  async remove(patientId: string, clinicianSubject: string): Promise<void> {
    await this.scope.records.write(
      manage('careTeam.remove'),
      [patientOwner(patientId)],
      (tx) => tx.careTeamMember.deleteMany({ where: { patientId, clinicianSubject } }),
      () => ({ resourceIds: [memberId(patientId, clinicianSubject)] }),
    );
    this.scope.access.forget(patientId);
  }

  /**
   * Opens a grant for the calling clinician; the audit record of the opening
   * is itself flagged. A patient id that names no active patient gets the same
   * answer, from the same work (one statement, one audit record in the same
   * transaction), so the answer reveals nothing: a grant that was not stored,
   * recorded as refused, reaching no one.
   */
  async openBreakGlass(patientId: string, reason: string, minutes: number): Promise<BreakGlassGrant> {
    const grantedAt = new Date();
    const asked: BreakGlassGrant = {
      id: randomUUID(),
      clinicianSubject: this.scope.access.subject,
      patientId,
      reason,
      grantedAt,
      expiresAt: new Date(grantedAt.getTime() + minutes * 60_000),
    };
    const stored = await this.scope.records.write(
      { permission: 'breakGlass.open', action: 'breakGlass.open', resourceType: 'BreakGlassGrant' },
      [],
      async (tx) => {
        const rows = await tx.$queryRaw<{ id: string }[]>`
          INSERT INTO "BreakGlassGrant" (id, "clinicianSubject", "patientId", reason, "grantedAt", "expiresAt")
          SELECT ${asked.id}::uuid, ${asked.clinicianSubject}, p.id, ${reason}, ${grantedAt}, ${asked.expiresAt}
          FROM "Patient" p WHERE p.id = ${patientId}::uuid AND p."archivedAt" IS NULL
          RETURNING id::text`;
        return rows.length === 1;
      },
      (opened) => ({ resourceIds: [asked.id], patientIds: [patientId], breakGlass: true, ...(opened ? {} : { refused: 'no-active-patient' }) }),
    );
    if (stored) this.scope.access.forget(patientId);
    return asked;
  }

  /** Grants newest first (the review queue starts with the latest emergency), as the contract says. */
  async grants(filter: { from?: Date; to?: Date; clinicianSubject?: string }, first: number, after?: KeysetPosition): Promise<Connection<BreakGlassGrant>> {
    this.scope.access.require('audit.read', 'breakGlass.list');
    const where: Prisma.BreakGlassGrantWhereInput = {
      grantedAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lte: filter.to } : {}) },
      ...(filter.clinicianSubject ? { clinicianSubject: filter.clinicianSubject } : {}),
    };
    const rows = await this.scope.prisma.breakGlassGrant.findMany({
      where: { AND: [where, afterPositionNewestFirst(after, 'grantedAt')] },
      orderBy: [{ grantedAt: 'desc' }, { id: 'desc' }],
      take: first + 1,
    });
    this.scope.trail.note({
      action: 'breakGlass.list',
      resourceType: 'BreakGlassGrant',
      resourceIds: rows.slice(0, first).map((row) => row.id),
      patientIds: [...new Set(rows.slice(0, first).map((row) => row.patientId))],
    });
    return toConnection(rows, first, after !== undefined, () => this.scope.prisma.breakGlassGrant.count({ where }), (row) =>
      encodeCursor({ time: row.grantedAt, id: row.id }),
    );
  }
}
