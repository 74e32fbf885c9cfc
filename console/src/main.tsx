import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { resumeSignIn } from './auth/sign-in.ts';
import './styles.css';

const queryClient = new QueryClient({
  // The server is the truth: no retries that would repeat a refusal, nothing kept once a page is left.
  defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false, gcTime: 0 } },
});

await resumeSignIn().catch(() => undefined);
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
