// The CLI's exit statuses (sysexits.h), apart from the configuration code so the entry point can name one before it
// loads anything else.

/** Exit status for a bad configuration (EX_CONFIG); systemd's RestartPreventExitStatus names it. */
export const EXIT_CONFIG = 78;
/** sysexits EX_USAGE: a command line that cannot be used (an unknown or missing option, a bad site or date). */
export const EXIT_USAGE = 64;
/** sysexits: a service the gateway needs is unavailable (EX_UNAVAILABLE). */
export const EXIT_UNAVAILABLE = 69;
/** sysexits: the installation is broken (EX_SOFTWARE): a native module that does not load; replay's pipeline cannot start. */
export const EXIT_SOFTWARE = 70;
/** sysexits: a file or directory cannot be created (EX_CANTCREAT): dataDir. */
export const EXIT_CANTCREAT = 73;
/** sysexits: data the command reads is unusable (EX_DATAERR): a state file in dataDir damaged or from a newer release. */
export const EXIT_DATAERR = 65;
/** sysexits: an input the command reads is missing (EX_NOINPUT): a replay file, a dataDir that holds no gateway state. */
export const EXIT_NOINPUT = 66;
/**
 * sysexits EX_IOERR: the gateway did a control action, but an I/O error (disk full) kept its event for central out of
 * the outbox (503 CONTROL_NOT_STORED): the action stands and must not be repeated; the event is stored at the next check.
 */
export const EXIT_IOERR = 74;
/** sysexits: try again later (EX_TEMPFAIL): a port in use, a listener address not up yet, a dataDir locked by another gateway. */
export const EXIT_TEMPFAIL = 75;
/** sysexits: the other side does not speak the protocol (EX_PROTOCOL): `--api` names something that is not the gateway's API. */
export const EXIT_PROTOCOL = 76;
/** sysexits: permission denied (EX_NOPERM): the API refused the token, or the token's role may not do this. */
export const EXIT_NOPERM = 77;
