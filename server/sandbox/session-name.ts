/** The tmux session of a sandbox; its 8 hex digits are the shape reconcile and the exit files recognise. */
export const sessionName = (id: string): string => `sandbox-${id.slice(0, 8)}`;
