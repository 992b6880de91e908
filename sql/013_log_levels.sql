-- Log levels set at run time (mailstead loglevel, admin LogLevelSet): they
-- override [general] loglevel of mailstead.conf. Running programs re-read
-- this table every two seconds (lib/db/loglevel.c).

CREATE TABLE log_levels (
	program text PRIMARY KEY CHECK (program ~ '^[a-z]{0,32}$'),
	level text NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
	updated timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE log_levels IS 'Log level per program, overriding the config file''s [general] loglevel; applied by running processes within seconds.';
COMMENT ON COLUMN log_levels.program IS 'smtpd, imapd, queued, admin, account, webmail, webapi or cli; the empty string is the default for programs without a row of their own.';
COMMENT ON COLUMN log_levels.level IS 'debug, info, warn or error.';
COMMENT ON COLUMN log_levels.updated IS 'When the level was last set.';
