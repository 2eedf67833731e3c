// What the Postgres JDBC driver (pgjdbc) sends, against segdb: a login
// with a password (SCRAM), queries, a PreparedStatement, an error, and
// the DatabaseMetaData calls DBeaver lists things with. Prints one line
// per answer, `name<TAB>value`, for server/tests/pg/jdbc.rs to compare
// with the HTTP API's; a failing step prints `name<TAB>FAILED ...`.
import java.sql.*;
import java.util.*;

public class Jdbc {
    interface Step {
        String run() throws Exception;
    }

    static void step(String name, Step s) {
        String out;
        try {
            out = s.run();
        } catch (SQLException e) {
            out = "FAILED " + e.getSQLState() + " " + e.getMessage().replace('\n', ' ');
        } catch (Exception e) {
            out = "FAILED " + e;
        }
        System.out.println(name + "\t" + out);
    }

    static String rows(ResultSet rs, String... columns) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (String c : columns) {
                row.add(String.valueOf(rs.getObject(c)));
            }
            out.add(String.join(",", row));
        }
        rs.close();
        return String.join(";", out);
    }

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", args[1]);
        p.setProperty("password", args[2]);
        p.setProperty("ApplicationName", "segdb-jdbc-test");
        try (Connection c = DriverManager.getConnection(args[0], p)) {
            Statement st = c.createStatement();
            step("count", () -> {
                ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM users");
                rs.next();
                return String.valueOf(rs.getLong(1));
            });
            step("group", () -> {
                ResultSet rs = st.executeQuery("SELECT gender, COUNT(*) FROM users GROUP BY gender");
                List<String> out = new ArrayList<>();
                while (rs.next()) {
                    out.add(rs.getString(1) + "," + rs.getLong(2));
                }
                return String.join(";", out);
            });
            step("prepared", () -> {
                PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM users WHERE age > ? AND city = ?");
                ps.setInt(1, 40);
                ps.setString(2, "c003");
                ResultSet rs = ps.executeQuery();
                rs.next();
                return String.valueOf(rs.getLong(1));
            });
            step("ids", () -> {
                ResultSet rs = st.executeQuery("SELECT user_id FROM users WHERE age BETWEEN 20 AND 22");
                List<String> out = new ArrayList<>();
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
                return String.join(";", out);
            });
            step("error", () -> {
                try {
                    st.executeQuery("SELEC 1 FROM users");
                    return "no error";
                } catch (SQLException e) {
                    return e.getSQLState();
                }
            });
            step("after_error", () -> {
                ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM users WHERE is_owner = TRUE");
                rs.next();
                return String.valueOf(rs.getLong(1));
            });
            DatabaseMetaData md = c.getMetaData();
            step("product", () -> md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
            step("catalogs", () -> rows(md.getCatalogs(), "TABLE_CAT"));
            step("schemas", () -> rows(md.getSchemas(), "TABLE_SCHEM"));
            step("tables", () -> rows(md.getTables(null, "public", "%", new String[] {"TABLE"}), "TABLE_SCHEM", "TABLE_NAME"));
            step("columns", () -> rows(md.getColumns(null, "public", "users", "%"), "COLUMN_NAME", "TYPE_NAME"));
            step("primary_keys", () -> rows(md.getPrimaryKeys(null, "public", "users"), "COLUMN_NAME"));
            step("indexes", () -> rows(md.getIndexInfo(null, "public", "users", false, true), "INDEX_NAME"));
            step("type_info", () -> {
                ResultSet rs = md.getTypeInfo();
                int n = 0;
                while (rs.next()) {
                    n++;
                }
                return n > 0 ? "some" : "none";
            });
        }
    }
}
