import { consoleSettings } from './settings.ts';
import { userManager } from './oidc.ts';

// The hidden iframe of a silent renewal lands here and hands the provider's answer to the console.
const { oidc } = await consoleSettings();
if (oidc) await userManager(oidc, () => undefined).signinSilentCallback();
