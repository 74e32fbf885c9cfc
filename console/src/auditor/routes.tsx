import { Link, Route, Switch } from 'wouter';
import { AuditLogPage } from './AuditLogPage.tsx';
import { BreakGlassPage } from './BreakGlassPage.tsx';
import { LedgerPage } from './LedgerPage.tsx';

/** Auditor: the audit log (filters, detail, export), break-glass review, the ledger's state. */
export default function AuditorRoutes() {
  return (
    <>
      <nav className="subnav" aria-label="Audit">
        <Link href="/">Audit log</Link>
        <Link href="/break-glass">Break-glass review</Link>
        <Link href="/ledger">Ledger</Link>
      </nav>
      <Switch>
        <Route path="/break-glass" component={BreakGlassPage} />
        <Route path="/ledger" component={LedgerPage} />
        <Route component={AuditLogPage} />
      </Switch>
    </>
  );
}
