/** Graded overload actions, in the order they start as pressure rises; each level includes the ones below. */
export enum PressureLevel {
  /** Nothing to do. */
  None = 0,
  /** Keep-alive connections are closed after their current response. */
  CloseKeepAlive = 1,
  /** New connections are refused. */
  RefuseConnections = 2,
  /** New work that is not critical is shed. */
  ShedWork = 3,
}

/** Label of each level (value of `unipool_overload_state` once wired), indexed by level. */
export const PRESSURE_LEVEL_NAMES = ['none', 'closeKeepAlive', 'refuseConnections', 'shedWork'] as const;
