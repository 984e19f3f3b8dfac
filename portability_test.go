package soloist_test

// The static portability check: SQL that MySQL 8.0/8.4 or MariaDB
// 10.6/10.11/11.4 rejects or reads differently, found by reading the files,
// because no MySQL server can run where the suite runs. Each rule names the
// manual section it rests on; docs/compatibility.md has the whole table.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// finding is one construct a rule rejects.
type finding struct {
	file, rule, why string
	line            int
}

func (f finding) String() string { return fmt.Sprintf("%s:%d: %s: %s", f.file, f.line, f.rule, f.why) }

// maskSQL blanks comments and the insides of quoted strings and identifiers,
// keeping every offset and newline, so that the rules see only code. The
// insides of hex and bit literals (X'..', B'..') are kept.
func maskSQL(src string) string {
	b := []byte(src)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '-' && i+1 < len(b) && b[i+1] == '-':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			end := strings.Index(string(b[i+2:]), "*/")
			stop := len(b)
			if end >= 0 {
				stop = i + 2 + end + 2
			}
			for ; i < stop; i++ {
				if b[i] != '\n' {
					b[i] = ' '
				}
			}
			i--
		case b[i] == '\'' || b[i] == '"' || b[i] == '`':
			q := b[i]
			keep := q == '\'' && i > 0 && strings.ContainsRune("xXbB", rune(b[i-1])) && (i < 2 || !isWord(b[i-2]))
			for i++; i < len(b); i++ {
				if b[i] == '\\' && q != '`' && i+1 < len(b) {
					b[i], b[i+1] = ' ', ' '
					i++
					continue
				}
				if b[i] == q {
					if i+1 < len(b) && b[i+1] == q { // doubled quote
						b[i], b[i+1] = ' ', ' '
						i++
						continue
					}
					break
				}
				if !keep && b[i] != '\n' {
					b[i] = ' '
				}
			}
		}
	}
	return string(b)
}

func isWord(c byte) bool {
	return c == '_' || c == '.' || c == '@' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// binaryNames collects the names declared with a binary type in src: routine
// parameters, DECLAREd variables and table columns.
func binaryNames(src string, into map[string]bool) {
	code := maskSQL(src)
	binType := `(?:LONG|MEDIUM|TINY)?BLOB|VARBINARY\s*\(\s*\d+\s*\)|BINARY\s*\(\s*\d+\s*\)`
	decl := regexp.MustCompile(`(?im)(?:\bDECLARE\s+|(?:^|[(,])\s*(?:IN\s+|OUT\s+|INOUT\s+)?)(\w+(?:\s*,\s*\w+)*)\s+(?:` + binType + `)`)
	for _, m := range decl.FindAllStringSubmatch(code, -1) {
		for _, n := range strings.Split(m[1], ",") {
			into[strings.ToLower(strings.TrimSpace(n))] = true
		}
	}
}

// matchParen returns the index of the parenthesis that matches the one at i,
// searching forward from '(' or backward from ')'; -1 if there is none.
func matchParen(code string, i int) int {
	depth := 0
	step := 1
	if code[i] == ')' {
		step = -1
	}
	for j := i; j >= 0 && j < len(code); j += step {
		switch code[j] {
		case '(':
			depth += step
		case ')':
			depth -= step
		}
		if depth == 0 {
			return j
		}
	}
	return -1
}

// binaryOperand says why the expression operand may be a binary string, or
// "" when it is certainly not one: the rule of MySQL 8.0.22+ that rejects a
// binary argument of any regular-expression function (error 3995).
func binaryOperand(operand string, binary map[string]bool) string {
	e := strings.TrimSpace(operand)
	upper := strings.ToUpper(e)
	switch {
	case e == "":
		return "no operand found"
	case regexp.MustCompile(`^_(\w+)\s*(X'|0X|B'|')`).MatchString(upper):
		if strings.HasPrefix(upper, "_BINARY") {
			return "a _binary literal"
		}
		return "" // a literal with a character set introducer
	case strings.HasPrefix(upper, "X'") || strings.HasPrefix(upper, "0X") || strings.HasPrefix(upper, "B'"):
		return "a hex or bit literal is a binary string; give it a character set introducer such as _utf8mb4"
	case strings.HasPrefix(e, "'"):
		return ""
	case strings.HasPrefix(upper, "BINARY ") || strings.HasPrefix(upper, "BINARY("):
		return "BINARY makes a binary string"
	case strings.HasSuffix(e, ")"):
		open := matchParen(e, len(e)-1)
		if open < 0 {
			return "unbalanced parentheses"
		}
		fn := strings.ToUpper(strings.TrimSpace(e[:open]))
		inner := e[open+1 : len(e)-1]
		switch {
		case fn == "":
			return binaryOperand(inner, binary)
		case fn == "CONVERT":
			m := regexp.MustCompile(`(?i)\bUSING\s+(\w+)\s*$`).FindStringSubmatch(inner)
			if m != nil && !strings.EqualFold(m[1], "binary") {
				return ""
			}
			return "CONVERT without USING a text character set"
		case fn == "CAST" && regexp.MustCompile(`(?i)\bAS\s+CHAR\b.*\bCHARACTER\s+SET\s+(\w+)\s*$`).MatchString(inner) &&
			!regexp.MustCompile(`(?i)\bCHARACTER\s+SET\s+binary\s*$`).MatchString(inner):
			return ""
		default:
			return fmt.Sprintf("%s(...) may return a binary string; write CONVERT(... USING utf8mb4)", fn)
		}
	default:
		name := e
		if i := strings.LastIndexAny(name, " .("); i >= 0 {
			name = name[i+1:]
		}
		if binary[strings.ToLower(name)] {
			return name + " is declared with a binary type"
		}
		return ""
	}
}

// leftOperand is the operand that ends just before offset end in code: a
// word (a name, a literal) or a parenthesised call with its function name.
func leftOperand(code string, end int) string {
	i := end
	for i > 0 && code[i-1] == ' ' || i > 0 && code[i-1] == '\n' || i > 0 && code[i-1] == '\t' {
		i--
	}
	stop := i
	if i > 0 && code[i-1] == ')' {
		open := matchParen(code, i-1)
		if open < 0 {
			return ""
		}
		i = open
	} else if i > 0 && code[i-1] == '\'' {
		i--
		for i > 0 && code[i-1] != '\'' {
			i--
		}
		i--
	}
	for i > 0 && isWord(code[i-1]) {
		i--
	}
	// An introducer or X before a quote belongs to the literal.
	for i > 0 && code[i-1] == ' ' && i > 1 && code[i-2] != ' ' {
		j := i - 1
		k := j
		for k > 0 && isWord(code[k-1]) {
			k--
		}
		if k < j && code[k] == '_' {
			i = k
			continue
		}
		break
	}
	return code[i:stop]
}

// rightOperand is the operand that starts at offset start in code.
func rightOperand(code string, start int) string {
	i := start
	for i < len(code) && (code[i] == ' ' || code[i] == '\n' || code[i] == '\t') {
		i++
	}
	j := i
	for j < len(code) && (isWord(code[j]) || code[j] == '_') {
		j++
	}
	if j < len(code) && code[j] == ' ' && j > i && code[i] == '_' { // introducer
		for j < len(code) && code[j] == ' ' {
			j++
		}
		for j < len(code) && isWord(code[j]) {
			j++
		}
	}
	if j < len(code) && code[j] == '\'' {
		j++
		for j < len(code) && code[j] != '\'' {
			j++
		}
		j++
	}
	if j < len(code) && code[j] == '(' {
		if k := matchParen(code, j); k > 0 {
			j = k + 1
		}
	}
	return code[i:min(j, len(code))]
}

type syntaxRule struct {
	name, why string
	re        *regexp.Regexp
}

// syntaxRules are constructs one of the engines lacks or reads differently.
var syntaxRules = []syntaxRule{
	// MariaDB-only syntax: the MySQL 8.0/8.4 manuals have none of it.
	{"mariadb-only", "CREATE OR REPLACE is MariaDB syntax; MySQL has DROP ... IF EXISTS and CREATE", regexp.MustCompile(`(?i)\bCREATE\s+OR\s+REPLACE\b`)},
	{"mariadb-only", "RETURNING (INSERT/DELETE ... RETURNING) is MariaDB syntax", regexp.MustCompile(`(?i)\bRETURNING\b`)},
	{"mariadb-only", "sequences are MariaDB objects", regexp.MustCompile(`(?i)\bCREATE\s+SEQUENCE\b|\bNEXTVAL\s*\(|\bLASTVAL\s*\(|\bSETVAL\s*\(|\bNEXT\s+VALUE\s+FOR\b|\bPREVIOUS\s+VALUE\s+FOR\b`)},
	{"mariadb-only", "ADD/DROP COLUMN or INDEX IF [NOT] EXISTS is MariaDB syntax", regexp.MustCompile(`(?i)\b(ADD|DROP)\s+(COLUMN\s+|INDEX\s+|KEY\s+)?IF\s+(NOT\s+)?EXISTS\b`)},
	{"mariadb-only", "SET STATEMENT ... FOR is MariaDB syntax", regexp.MustCompile(`(?i)\bSET\s+STATEMENT\b`)},
	{"mariadb-only", "WAIT n and LIMIT ROWS EXAMINED are MariaDB syntax", regexp.MustCompile(`(?i)\bWAIT\s+\d|\bROWS\s+EXAMINED\b`)},
	{"mariadb-only", "TYPE OF, ROW TYPE OF, %TYPE, BEGIN NOT ATOMIC and FOR ... IN loops are MariaDB stored-program syntax", regexp.MustCompile(`(?i)\bTYPE\s+OF\b|%TYPE\b|\bBEGIN\s+NOT\s+ATOMIC\b|\bFOR\s+\w+\s+IN\s+[^;]*\.\.`)},
	{"mariadb-only", "MariaDB-only functions or types", regexp.MustCompile(`(?i)\b(JSON_DETAILED|JSON_EQUALS|JSON_NORMALIZE|SFORMAT|NATURAL_SORT_KEY)\s*\(|\bINET6\b|\bSYSTEM\s+VERSIONING\b|\butf8mb4_uca1400\w*`)},
	// MySQL-only syntax: the MariaDB 10.6 documentation has none of it.
	{"mysql-only", "FOR SHARE is MySQL syntax; LOCK IN SHARE MODE works on both", regexp.MustCompile(`(?i)\bFOR\s+SHARE\b`)},
	{"mysql-only", "LATERAL, VALUES ROW(...), TABLE t and the INSERT row alias (AS new ON DUPLICATE KEY) are MySQL syntax", regexp.MustCompile(`(?i)\bLATERAL\b|\bVALUES\s+ROW\s*\(|(?m)^\s*TABLE\s+\w+\s*$|\)\s*AS\s+\w+(\s*\([^)]*\))?\s+ON\s+DUPLICATE\s+KEY\b`)},
	{"mysql-only", "MySQL-only functions: REGEXP_LIKE, ANY_VALUE, GROUPING, RANDOM_BYTES, JSON_SCHEMA_VALID, MEMBER OF, the -> and ->> operators", regexp.MustCompile(`(?i)\b(REGEXP_LIKE|ANY_VALUE|GROUPING|RANDOM_BYTES|JSON_SCHEMA_VALID)\s*\(|\bMEMBER\s+OF\b|->>?`)},
	{"mysql-only", "utf8mb4_0900 collations exist only in MySQL", regexp.MustCompile(`(?i)\butf8mb4_0900\w*`)},
	{"mysql-only", "SET PERSIST is MySQL syntax", regexp.MustCompile(`(?i)\bSET\s+PERSIST(_ONLY)?\b`)},
	// Read differently by the two engines.
	{"charset", "utf8 means utf8mb3 (deprecated in MySQL 8) on both engines, and utf8mb4 under MariaDB 11.8's old_mode; say utf8mb4", regexp.MustCompile(`(?i)\butf8(_[a-z0-9_]+)?\b`)},
	{"stored-programs", "a stored function, trigger or event needs SUPER or log_bin_trust_function_creators when the binary log is on (MySQL 8's default); Soloist uses procedures only", regexp.MustCompile(`(?i)\bCREATE\s+(DEFINER\s*=\s*\S+\s+)?(FUNCTION|TRIGGER|EVENT)\b`)},
	{"clusters", "LOCK TABLES and temporary tables are refused or unsafe on Galera/PXC (pxc_strict_mode) and Group Replication", regexp.MustCompile(`(?i)\bLOCK\s+TABLES?\b|\bCREATE\s+TEMPORARY\s+TABLE\b`)},
	{"clock", "a procedure may only reset the session clock (SET timestamp = DEFAULT), never set it", regexp.MustCompile(`(?i)\bSET\s+(SESSION\s+|@@SESSION\.|@@)?timestamp\s*=\s*[^D\s]`)},
}

// unsafeInWrites are functions that make a data-changing statement unsafe for
// statement-based binary logging (MySQL 8.4 manual, "Determination of Safe
// and Unsafe Statements in Binary Logging"; MariaDB, "Unsafe Statements for
// Statement-based Replication").
var unsafeInWrites = regexp.MustCompile(`(?i)\b(UUID|UUID_SHORT|RAND|SYSDATE|USER|CURRENT_USER|FOUND_ROWS|ROW_COUNT|LOAD_FILE|VERSION|GET_LOCK|IS_FREE_LOCK|IS_USED_LOCK|RELEASE_LOCK|SLEEP|MASTER_POS_WAIT)\s*\(`)

// dataChange finds the data-changing statement in a piece of a routine.
var dataChange = regexp.MustCompile(`(?:^|\s)(INSERT\s+INTO|REPLACE\s+INTO|DELETE\s+FROM|UPDATE\s+\w+(?:\s+AS\s+\w+)?\s+SET)\b`)

// checkPortable applies every rule to one file. binary holds the names
// declared with a binary type anywhere in the schema.
func checkPortable(file, src string, binary map[string]bool) []finding {
	code := maskSQL(src)
	var out []finding
	add := func(at int, rule, why string) {
		out = append(out, finding{file: file, line: 1 + strings.Count(code[:at], "\n"), rule: rule, why: why})
	}
	// Regular expressions on binary strings.
	for _, m := range regexp.MustCompile(`(?i)\b(NOT\s+)?(REGEXP|RLIKE)\b`).FindAllStringIndex(code, -1) {
		if why := binaryOperand(leftOperand(code, m[0]), binary); why != "" {
			add(m[0], "regexp-binary", "REGEXP on "+why+" (MySQL 8.0.22+: error 3995)")
		}
		if why := binaryOperand(rightOperand(code, m[1]), binary); why != "" {
			add(m[0], "regexp-binary", "REGEXP pattern: "+why+" (MySQL 8.0.22+: error 3995)")
		}
	}
	for _, m := range regexp.MustCompile(`(?i)\bREGEXP_(LIKE|INSTR|SUBSTR|REPLACE)\s*\(`).FindAllStringIndex(code, -1) {
		open := m[1] - 1
		closing := matchParen(code, open)
		if closing < 0 {
			continue
		}
		first, _, _ := strings.Cut(code[open+1:closing], ",")
		if why := binaryOperand(first, binary); why != "" {
			add(m[0], "regexp-binary", "regular-expression function on "+why+" (MySQL 8.0.22+: error 3995)")
		}
	}
	for _, r := range syntaxRules {
		for _, m := range r.re.FindAllStringIndex(code, -1) {
			add(m[0], r.name, r.why)
		}
	}
	// GET_LOCK: MySQL's manual promises whole seconds, MariaDB honours
	// fractions; a fraction is fine on a branch taken only on MariaDB (the
	// line before tests VERSION() for it).
	mariaDBOnly := regexp.MustCompile(`(?i)VERSION\(\)\s+LIKE\s+'%MariaDB%'\s+THEN\s*$`)
	for _, m := range regexp.MustCompile(`(?i)\bGET_LOCK\s*\(`).FindAllStringIndex(code, -1) {
		closing := matchParen(code, m[1]-1)
		if closing < 0 {
			continue
		}
		lineStart := strings.LastIndex(code[:m[0]], "\n")
		if lineStart > 0 && mariaDBOnly.MatchString(strings.TrimRight(src[:lineStart], " \t")) {
			continue
		}
		if _, timeout, _ := strings.Cut(code[m[1]:closing], ","); strings.Contains(timeout, "/") || regexp.MustCompile(`\d\.\d`).MatchString(timeout) {
			add(m[0], "get-lock", "a fractional GET_LOCK timeout is honoured by MariaDB only; pass whole seconds (DIV) and sleep the rest")
		}
	}
	// Statements: tables, and what statement-based binary logging cannot replay.
	offset := 0
	for _, stmt := range strings.SplitAfter(code, ";") {
		s := strings.TrimSpace(stmt)
		at := offset + strings.Index(stmt, s)
		offset += len(stmt)
		upper := strings.ToUpper(s)
		if regexp.MustCompile(`^CREATE\s+TABLE\b`).MatchString(upper) {
			if !strings.Contains(upper, "PRIMARY KEY") {
				add(at, "primary-key", "a table without a primary key fails under sql_require_primary_key and Group Replication, and pxc_strict_mode refuses writes to it")
			}
			if !regexp.MustCompile(`ENGINE\s*=\s*INNODB\b`).MatchString(upper) {
				add(at, "innodb", "say ENGINE = InnoDB: Galera, PXC and Group Replication replicate InnoDB only")
			}
		}
		write := dataChange.FindStringIndex(upper)
		if write == nil {
			continue
		}
		w := upper[write[0]:]
		if regexp.MustCompile(`^(DELETE|UPDATE)\b`).MatchString(w) && regexp.MustCompile(`\bLIMIT\b`).MatchString(w) && !regexp.MustCompile(`\bORDER\s+BY\b`).MatchString(w) {
			add(at+write[0], "binlog-statement", "UPDATE or DELETE with LIMIT and no ORDER BY can change other rows on a replica under statement-based logging")
		}
		if m := unsafeInWrites.FindStringIndex(w); m != nil {
			add(at+write[0]+m[0], "binlog-statement", "a function that statement-based logging cannot replay, in a data-changing statement")
		}
	}
	return out
}

// portabilityFindings checks every file of dirs with the binary names of
// schemaDirs.
func portabilityFindings(t *testing.T, files []string, schemaFiles []string) []finding {
	t.Helper()
	binary := map[string]bool{}
	for _, f := range append(slices.Clone(schemaFiles), files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		binaryNames(string(b), binary)
	}
	var out []finding
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, checkPortable(f, string(b), binary)...)
	}
	return out
}

func globSQL(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s: %v", pattern, err)
	}
	return files
}

func TestTheSchemaIsPortableToMySQLAndMariaDB(t *testing.T) {
	schema := globSQL(t, "sql/*.sql")
	files := append(globSQL(t, "procedures/*.sql"), schema...)
	for _, f := range portabilityFindings(t, files, schema) {
		t.Error(f)
	}
}

// TestThePortabilityCheckRejectsTheProceduresBeforeTheBaseline runs the check
// on copies of procedures as they were before the baseline (testdata/
// portability): REGEXP on LONGBLOB parameters, a fractional GET_LOCK timeout,
// DELETE ... LIMIT without ORDER BY. The check must find each of them.
func TestThePortabilityCheckRejectsTheProceduresBeforeTheBaseline(t *testing.T) {
	findings := portabilityFindings(t, globSQL(t, "testdata/portability/*.sql"), globSQL(t, "sql/*.sql"))
	want := []string{
		"testdata/portability/check_text_arg.sql:29: regexp-binary",
		"testdata/portability/try_acquire.sql:44: regexp-binary",
		"testdata/portability/await_lease.sql:55: get-lock",
		"testdata/portability/prune_runs.sql:25: binlog-statement",
		"testdata/portability/prune_runs.sql:27: binlog-statement",
	}
	var got []string
	for _, f := range findings {
		got = append(got, fmt.Sprintf("%s:%d: %s", f.file, f.line, f.rule))
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("the check missed %s; it found:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

// TestEachPortabilityRuleRejectsItsConstruct shows that every rule can fail,
// on one small statement each, and passes the portable form beside it.
func TestEachPortabilityRuleRejectsItsConstruct(t *testing.T) {
	binary := map[string]bool{}
	binaryNames("CREATE PROCEDURE p(IN p_name LONGBLOB, IN p_text TEXT) BEGIN DECLARE v_b VARBINARY(10); END", binary)
	cases := []struct{ rule, bad, good string }{
		{"regexp-binary", "SELECT p_name REGEXP '[[:cntrl:]]'", "SELECT CONVERT(p_name USING utf8mb4) REGEXP '[[:cntrl:]]'"},
		{"regexp-binary", "SELECT NOT v_b RLIKE 'a'", "SELECT NOT p_text RLIKE 'a'"},
		{"regexp-binary", "SELECT CAST(p_text AS BINARY) REGEXP 'a'", "SELECT CAST(p_name AS CHAR CHARACTER SET utf8mb4) REGEXP 'a'"},
		{"regexp-binary", "SELECT p_text REGEXP X'5B5D'", "SELECT p_text REGEXP _utf8mb4 X'5B5D'"},
		{"regexp-binary", "SELECT REGEXP_INSTR(p_name, 'a')", "SELECT REGEXP_INSTR(CONVERT(p_name USING utf8mb4), 'a')"},
		{"mariadb-only", "CREATE OR REPLACE PROCEDURE p() BEGIN END", "CREATE PROCEDURE p() BEGIN END"},
		{"mariadb-only", "DELETE FROM t WHERE a = 1 RETURNING a", "DELETE FROM t WHERE a = 1"},
		{"mariadb-only", "SELECT NEXTVAL(s)", "SELECT 1"},
		{"mariadb-only", "ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT", "ALTER TABLE t ADD COLUMN c INT"},
		{"mysql-only", "SELECT a FROM t WHERE k = 1 FOR SHARE", "SELECT a FROM t WHERE k = 1 LOCK IN SHARE MODE"},
		{"mysql-only", "INSERT INTO t (a) VALUES (1) AS new ON DUPLICATE KEY UPDATE a = new.a", "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = a"},
		{"mysql-only", "SELECT REGEXP_LIKE(p_text, 'a')", "SELECT p_text REGEXP 'a'"},
		{"mysql-only", "CREATE TABLE t (a INT, PRIMARY KEY (a)) ENGINE = InnoDB COLLATE utf8mb4_0900_bin", "CREATE TABLE t (a INT, PRIMARY KEY (a)) ENGINE = InnoDB COLLATE utf8mb4_bin"},
		{"charset", "DECLARE v VARCHAR(5) CHARACTER SET utf8", "DECLARE v VARCHAR(5) CHARACTER SET utf8mb4"},
		{"stored-programs", "CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1", "CREATE PROCEDURE f() BEGIN END"},
		{"clusters", "LOCK TABLES t WRITE", "START TRANSACTION"},
		{"clock", "SET timestamp = 1", "SET timestamp = DEFAULT"},
		{"get-lock", "SET v = GET_LOCK(n, v_ms / 1000)", "SET v = GET_LOCK(n, v_ms DIV 1000)"},
		{"get-lock", "IF x THEN\n SET v = GET_LOCK(n, v_ms / 1000)", "IF VERSION() LIKE '%MariaDB%' THEN\n SET v = GET_LOCK(n, v_ms / 1000)"},
		{"primary-key", "CREATE TABLE t (a INT) ENGINE = InnoDB", "CREATE TABLE t (a INT, PRIMARY KEY (a)) ENGINE = InnoDB"},
		{"innodb", "CREATE TABLE t (a INT, PRIMARY KEY (a)) ENGINE = Aria", "CREATE TABLE t (a INT, PRIMARY KEY (a)) ENGINE = InnoDB"},
		{"binlog-statement", "DELETE FROM t WHERE a < 5 LIMIT 10;", "DELETE FROM t WHERE a < 5 ORDER BY a LIMIT 10;"},
		{"binlog-statement", "INSERT INTO t (a) VALUES (UUID());", "INSERT INTO t (a) VALUES (p_text);"},
	}
	for _, c := range cases {
		rules := func(src string) []string {
			var r []string
			for _, f := range checkPortable("fixture.sql", src, binary) {
				r = append(r, f.rule)
			}
			return r
		}
		if got := rules(c.bad); !slices.Contains(got, c.rule) {
			t.Errorf("%s: rule %s did not fire (got %v)", c.bad, c.rule, got)
		}
		if got := rules(c.good); len(got) != 0 {
			t.Errorf("%s: the portable form was rejected: %v", c.good, got)
		}
	}
}
