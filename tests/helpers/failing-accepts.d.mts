/** How many accept failures each preloaded worker-thread listener emits (see failing-accepts.mjs). */
export declare const ACCEPT_FAILURES: number;
