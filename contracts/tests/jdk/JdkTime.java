// The JDK's verdict on date/time values, the reference the gate's pattern language is checked
// against (contracts/tests/jdk_patterns.rs runs it with `java JdkTime.java`).
//
// Reads lines `pattern<TAB>value` on stdin, prints `pattern<TAB>value<TAB>verdict`, where the
// verdict is what DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH) makes of the value:
//   bad-pattern                     the pattern does not compile
//   error                           the value does not parse
//   smart-only                      it parses only with the JDK's SMART resolver (which moves
//                                   31 April to 30 April and reads 24:00 as the next midnight);
//                                   the gate resolves strictly and refuses these
//   <kind> d=<date> t=<time> o=<offset>   what was resolved, `-` where absent; kind is date,
//                                   time, datetime or partial (neither a date nor a time)
// The pattern `ISO_TIME` stands for DateTimeFormatter.ISO_TIME (the gate's default for time).
import java.time.*;
import java.time.format.*;
import java.time.temporal.*;
import java.io.*;
import java.util.Locale;

public class JdkTime {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) continue;
            int tab = line.indexOf('\t');
            String pattern = line.substring(0, tab), value = line.substring(tab + 1);
            out.println(pattern + "\t" + value + "\t" + verdict(pattern, value));
        }
    }

    static DateTimeFormatter formatter(String pattern, boolean strict) {
        if (pattern.equals("ISO_TIME")) {
            return DateTimeFormatter.ISO_TIME.withResolverStyle(strict ? ResolverStyle.STRICT : ResolverStyle.SMART);
        }
        // STRICT needs an era for year-of-era; the gate reads `y` as the proleptic year.
        String p = strict ? yearOfEraAsYear(pattern) : pattern;
        return DateTimeFormatter.ofPattern(p, Locale.ENGLISH).withResolverStyle(strict ? ResolverStyle.STRICT : ResolverStyle.SMART);
    }

    static String yearOfEraAsYear(String pattern) {
        StringBuilder b = new StringBuilder();
        boolean quoted = false;
        for (char c : pattern.toCharArray()) {
            if (c == '\'') quoted = !quoted;
            b.append(!quoted && c == 'y' ? 'u' : c);
        }
        return b.toString();
    }

    static String verdict(String pattern, String value) {
        DateTimeFormatter smart;
        try {
            smart = formatter(pattern, false);
        } catch (IllegalArgumentException e) {
            return "bad-pattern";
        }
        TemporalAccessor t;
        try {
            t = smart.parse(value);
        } catch (DateTimeParseException e) {
            return "error";
        }
        try {
            formatter(pattern, true).parse(value);
        } catch (DateTimeParseException e) {
            return "smart-only";
        }
        LocalDate d = t.query(TemporalQueries.localDate());
        LocalTime time = t.query(TemporalQueries.localTime());
        ZoneOffset o = t.query(TemporalQueries.offset());
        String kind = d != null && time != null ? "datetime" : d != null ? "date" : time != null ? "time" : "partial";
        String ts = time == null ? "-" : String.format("%02d:%02d:%02d.%09d", time.getHour(), time.getMinute(), time.getSecond(), time.getNano());
        String os = o == null ? "-" : o.getTotalSeconds() == 0 ? "+00:00" : o.getId();
        return kind + " d=" + (d == null ? "-" : d.toString()) + " t=" + ts + " o=" + os;
    }
}
