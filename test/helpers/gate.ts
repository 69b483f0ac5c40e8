/** Where gated test requests wait (`closeGate`); undefined while the gate is open. */
let gate: Promise<void> | undefined;

/**
 * Closes the gate: gated requests (HTTP `/gated`, gRPC Echo `gated...`) wait for the returned
 * `release()`, then their own delay. A test holds requests in flight as long as it needs,
 * whatever the machine's load. Call `release()` in a `finally`.
 */
export function closeGate(): () => void {
  let open!: () => void;
  gate = new Promise<void>((resolve) => (open = resolve));
  return () => {
    gate = undefined;
    open();
  };
}

/** Resolves once the gate is open (at once when it is). */
export function passGate(): Promise<void> {
  return gate ?? Promise.resolve();
}
