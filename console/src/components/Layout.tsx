import type { ReactNode } from 'react';
import { Link } from 'wouter';
import { signOut } from '../auth/sign-in.ts';
import type { Session } from '../auth/session.ts';
import { sectionsFor } from '../roles.ts';

/** The frame of every page: skip link, the sections the user's roles open, who is signed in, sign-out. */
export function Layout({ session, children }: { session: Session; children: ReactNode }) {
  const sections = sectionsFor(session.roles);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">clinigraph console</span>
        <nav aria-label="Sections">
          <ul>
            {sections.map((section) => (
              <li key={section.path}>
                <Link href={section.path} className={(active: boolean) => (active ? 'active' : '')}>
                  {section.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          {session.subject} ({session.roles.join(', ')})
        </span>
        <button type="button" className="secondary" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {sections.length === 0 ? <p role="alert">Your token carries no role this console knows ({session.roles.join(', ') || 'none'}).</p> : children}
      </main>
    </>
  );
}
