/** Endpoint URLs as unipool checks and shows them: credentials never travel in one, logs never show more than its path. */

/** Whether a URL carries a user or password (`https://user:key@collector/`). */
export function hasCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}

/** What an endpoint problem says of a URL with credentials (which it never echoes). */
export const CREDENTIALS_IN_URL = 'must not carry credentials (user:password@): send them in a header with OTEL_EXPORTER_OTLP_HEADERS or metrics.otlp.headers';

/** A URL as logs show it: scheme, host, port and path; never a user, password, query or fragment. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '[unparsable URL]';
  }
}
