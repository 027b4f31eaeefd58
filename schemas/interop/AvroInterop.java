// Interop check of Corb's Avro single-object encoding with Apache Avro for
// Java, the reference implementation. Driven by schemas/interop_test.go
// (go test -tags integration ./schemas); usable by hand too:
//
//   java -cp "$(schemas/interop/avro-java.sh)/*" schemas/interop/AvroInterop.java --schemas schemas/avsc FILE...
//
// For each FILE it finds the writer schema by the fingerprint Java computes
// (SchemaNormalization.parsingFingerprint64 of every .avsc), decodes it with
// BinaryMessageDecoder, checks that no bytes are left over, encodes the
// record again with BinaryMessageEncoder, and decodes it once more with the
// newest version of the same name as the reader schema (Avro's own schema
// resolution, which Corb does in Go). It prints one JSON line per file:
//
//   {"file": FILE, "name": "corb.Command", "version": 1, "same_bytes": true,
//    "record": {...as written...}, "current_version": 2, "current": {...resolved...}}
//
// The records are neutral JSON, as interop/avro_interop.py writes them:
// timestamps are integer microseconds since the Unix epoch, bytes are base64,
// a union holding a record is {"$type": full name, "value": {...}}.
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

public class AvroInterop {
  private static final Pattern FILE = Pattern.compile("^(.+)\\.v(\\d+)\\.avsc$");

  private record Version(String name, int version, Schema schema) {}

  public static void main(String[] args) throws Exception {
    if (args.length < 3 || !args[0].equals("--schemas")) {
      fail("usage: AvroInterop --schemas DIR FILE...");
    }
    Map<Long, Version> byFingerprint = new HashMap<>();
    Map<String, Version> newest = new HashMap<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(Path.of(args[1]), "*.avsc")) {
      for (Path p : files) {
        Matcher m = FILE.matcher(p.getFileName().toString());
        if (!m.matches()) {
          fail(p + ": file name is not <name>.v<N>.avsc");
        }
        // One parser per file: every version defines the same names again.
        Schema s = new Schema.Parser().parse(p.toFile());
        if (!s.getFullName().equals(m.group(1))) {
          fail(p + ": schema is named " + s.getFullName());
        }
        Version v = new Version(m.group(1), Integer.parseInt(m.group(2)), s);
        if (byFingerprint.put(SchemaNormalization.parsingFingerprint64(s), v) != null) {
          fail(p + ": fingerprint of another version");
        }
        newest.merge(v.name(), v, (a, b) -> a.version() >= b.version() ? a : b);
      }
    }
    if (byFingerprint.isEmpty()) {
      fail("no .avsc files in " + args[1]);
    }
    ObjectMapper json = new ObjectMapper();
    for (int i = 2; i < args.length; i++) {
      String file = args[i];
      byte[] b = Files.readAllBytes(Path.of(file));
      if (b.length < 10 || b[0] != (byte) 0xC3 || b[1] != (byte) 0x01) {
        fail(file + ": not single-object encoded");
      }
      long fp = ByteBuffer.wrap(b, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      Version w = byFingerprint.get(fp);
      if (w == null) {
        fail(file + ": unknown fingerprint " + Long.toHexString(fp));
      }
      GenericRecord rec = new BinaryMessageDecoder<GenericRecord>(GenericData.get(), w.schema()).decode(b);

      // BinaryMessageDecoder does not say whether bytes are left over.
      BinaryDecoder body = DecoderFactory.get().binaryDecoder(b, 10, b.length - 10, null);
      new GenericDatumReader<GenericRecord>(w.schema()).read(null, body);
      if (!body.isEnd()) {
        fail(file + ": bytes left over after the record");
      }

      ByteArrayOutputStream again = new ByteArrayOutputStream();
      new BinaryMessageEncoder<GenericRecord>(GenericData.get(), w.schema()).encode(rec, again);

      Version cur = newest.get(w.name());
      BinaryMessageDecoder<GenericRecord> resolving = new BinaryMessageDecoder<>(GenericData.get(), cur.schema());
      resolving.addSchema(w.schema());
      GenericRecord upgraded = resolving.decode(b);

      Map<String, Object> line = new LinkedHashMap<>();
      line.put("file", file);
      line.put("name", w.name());
      line.put("version", w.version());
      line.put("same_bytes", Arrays.equals(b, again.toByteArray()));
      line.put("record", neutral(rec, w.schema()));
      line.put("current_version", cur.version());
      line.put("current", neutral(upgraded, cur.schema()));
      System.out.println(json.writeValueAsString(line));
    }
  }

  private static Object neutral(Object v, Schema s) {
    switch (s.getType()) {
      case RECORD: {
        GenericRecord r = (GenericRecord) v;
        Map<String, Object> m = new LinkedHashMap<>();
        for (Schema.Field f : s.getFields()) {
          m.put(f.name(), neutral(r.get(f.pos()), f.schema()));
        }
        return m;
      }
      case UNION: {
        Schema branch = s.getTypes().get(GenericData.get().resolveUnion(s, v));
        Object x = neutral(v, branch);
        if (branch.getType() != Schema.Type.RECORD) {
          return x;
        }
        Map<String, Object> u = new LinkedHashMap<>();
        u.put("$type", branch.getFullName());
        u.put("value", x);
        return u;
      }
      case ARRAY: {
        List<Object> out = new ArrayList<>();
        for (Object x : (List<?>) v) {
          out.add(neutral(x, s.getElementType()));
        }
        return out;
      }
      case MAP: {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
          out.put(e.getKey().toString(), neutral(e.getValue(), s.getValueType()));
        }
        return out;
      }
      case ENUM:
      case STRING:
        return v.toString();
      case BYTES: {
        ByteBuffer bb = ((ByteBuffer) v).duplicate();
        byte[] a = new byte[bb.remaining()];
        bb.get(a);
        return Base64.getEncoder().encodeToString(a);
      }
      case FIXED:
        return Base64.getEncoder().encodeToString(((GenericFixed) v).bytes());
      case FLOAT:
        return ((Float) v).doubleValue();
      default: // NULL, BOOLEAN, INT, LONG, DOUBLE; logical types stay their underlying values
        return v;
    }
  }

  private static void fail(String msg) {
    System.err.println("AvroInterop: " + msg);
    System.exit(1);
  }
}
