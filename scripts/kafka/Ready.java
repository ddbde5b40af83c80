// Readiness probe for the test broker, run by scripts/services.sh as a Java
// single-file program against the broker's own jars:
//
//   java -cp 'libs/*' Ready.java BOOTSTRAP BROKER_PID TIMEOUT_SECONDS
//
// An open TCP port is not enough: a KRaft broker accepts connections before it
// has registered with the controller and is unfenced, and until then creating
// topics or joining a group fails. So "ready" here means: the cluster reports a
// broker node, and a probe topic can be created and has a leader. Retrying
// inside one JVM avoids paying JVM start-up per attempt.
//
// Exit codes: 0 ready, 1 timed out, 2 broker process gone, 64 usage.

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.TopicExistsException;

public class Ready {
    private static final String PROBE_TOPIC = "_contract-gate-ready";

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Ready BOOTSTRAP BROKER_PID TIMEOUT_SECONDS");
            System.exit(64);
        }
        String bootstrap = args[0];
        long brokerPid = Long.parseLong(args[1]);
        Instant deadline = Instant.now().plus(Duration.ofSeconds(Long.parseLong(args[2])));

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        props.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");

        String lastError = "no attempt made";
        try (Admin admin = Admin.create(props)) {
            while (Instant.now().isBefore(deadline)) {
                if (ProcessHandle.of(brokerPid).map(ProcessHandle::isAlive).orElse(false) == false) {
                    System.err.println("broker process " + brokerPid + " exited while waiting for it");
                    System.exit(2);
                }
                try {
                    if (probe(admin)) {
                        System.exit(0);
                    }
                    lastError = "probe topic has no leader yet";
                } catch (ExecutionException e) {
                    lastError = String.valueOf(e.getCause());
                } catch (Exception e) {
                    lastError = String.valueOf(e);
                }
                Thread.sleep(200);
            }
        }
        System.err.println("broker at " + bootstrap + " not ready in time; last error: " + lastError);
        System.exit(1);
    }

    private static boolean probe(Admin admin) throws Exception {
        var nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
        if (nodes.isEmpty()) {
            return false;
        }
        try {
            admin.createTopics(List.of(new NewTopic(PROBE_TOPIC, 1, (short) 1)))
                .all().get(5, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        Map<String, TopicDescription> topics =
            admin.describeTopics(List.of(PROBE_TOPIC)).allTopicNames().get(5, TimeUnit.SECONDS);
        TopicDescription probe = topics.get(PROBE_TOPIC);
        if (probe == null || probe.partitions().isEmpty()) {
            return false;
        }
        Node leader = probe.partitions().get(0).leader();
        return leader != null && !leader.isEmpty();
    }
}
