// Package schema holds the one fact about the database schema that code
// without goose needs: the version this build requires. The root package
// re-exports it as soloist.SchemaVersion, and a test there checks it against
// the newest migration, so the library can read it without linking goose.
package schema

// Version is the goose version of the newest migration in sql/. A runner
// refuses to start on a database at an older version.
const Version int64 = 44
