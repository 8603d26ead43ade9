//! Process harness shared by every integration suite: ports, spawn/kill/restart, polling.
