namespace Federated.Agent.Hosting;

/// <summary>Short flags for the common settings (each is also <c>--Agent:Key=value</c>), and <c>--help</c>.</summary>
public static class AgentCommandLine
{
    public static readonly IReadOnlyDictionary<string, string> SwitchMappings = new Dictionary<string, string>
    {
        ["--coordinator"] = "Agent:Coordinator",
        ["--ca-cert"] = "Agent:CaCertificate",
        ["--federation"] = "Agent:FederationId",
        ["--token"] = "Agent:EnrollmentToken",
        ["--enrollment-token-file"] = "Agent:EnrollmentTokenFile",
        ["--client-cert"] = "Agent:ClientCertificate",
        ["--client-key"] = "Agent:ClientKey",
        ["--state"] = "Agent:StateDirectory",
        ["--model"] = "Agent:ModelDirectory",
        ["--data"] = "Agent:Data",
        ["--eval-data"] = "Agent:EvalData",
        ["--device"] = "Agent:Device",
        ["--precision"] = "Agent:Precision",
        ["--threads"] = "Agent:TorchThreads",
        ["--max-seq-len"] = "Agent:MaxSequenceLength",
        ["--seed"] = "Agent:Seed",
        ["--max-rank"] = "Agent:MaxRank",
        ["--upload-compression"] = "Agent:UploadCompression",
        ["--upload-compression-fraction"] = "Agent:UploadCompressionFraction",
    };

    public static bool WantsHelp(IEnumerable<string> args) => args.Any(a => a is "--help" or "-h" or "-?" or "help");

    public const string Help = """
        fed-agent: joins a federation, trains LoRA updates on local data, and uploads them to the coordinator.

        Usage: fed-agent [--coordinator URL] --federation ID --token TOKEN --model DIR --data FILE [options]

        Settings come from appsettings.json in the working directory, then environment variables (Agent__Data=...),
        then flags (--data FILE or --Agent:Data=FILE); later ones win.

          --coordinator URL     Agent:Coordinator        gRPC address (default http://127.0.0.1:5081); http:// only to
                                                         loopback, https:// otherwise; URL,URL,...: the silos of one
                                                         cluster, tried in turn when one cannot be reached
                                Agent:AllowPlaintextOnNetwork  http:// to a non-loopback host (private networks only)
          --ca-cert FILE        Agent:CaCertificate      PEM CA that signed the coordinator's certificate (private PKI)
          --federation ID       Agent:FederationId       the federation to join
          --token TOKEN         Agent:EnrollmentToken    issued by the operator; needed only until enrolled
          --enrollment-token-file FILE  Agent:EnrollmentTokenFile  the token read from a file instead (a mounted
                                                         Secret): not visible in process listings
          --client-cert FILE    Agent:ClientCertificate  PEM client certificate when the coordinator asks for one
          --client-key FILE     Agent:ClientKey          (mutual TLS); its key: the enrolled client is bound to it
          --state DIR           Agent:StateDirectory     credential and round progress (default ./agent-state)
          --model DIR           Agent:ModelDirectory     HF model directory of the federation's base model
          --data FILE           Agent:Data               training data: .jsonl instructions (Alpaca/Dolly) or plain text
          --eval-data FILE      Agent:EvalData           optional held-out data: loss reported before/after training
          --device NAME         Agent:Device             auto (default), cpu or cuda
          --precision NAME      Agent:Precision          base weights in auto (default: bf16 on CUDA, fp32 on the CPU),
                                                         fp32 or bf16; LoRA updates are float32 either way
          --threads N           Agent:TorchThreads       CPU threads for training (default 0: libtorch's, the physical cores)
                                Agent:GpuMemoryBytes     GPU memory to report instead of the detected (rank policy input)
          --max-seq-len N       Agent:MaxSequenceLength  tokens per training sequence (default 128)
          --seed N              Agent:Seed               seeds LoRA init, data order and dropout (default 0)
          --max-rank N          Agent:MaxRank            train at most at this rank, below the assigned one
                                Agent:HeartbeatInterval  default 00:00:30
                                Agent:PollInterval       pause once this round's update is in (default 00:00:05)
                                Agent:UploadChunkBytes   default 1048576 (the coordinator's limit)
                                Agent:UploadBytesPerSecond  upload rate cap (default unlimited)
          --upload-compression NAME  Agent:UploadCompression  none (default: float32), int8 (per-row scales, stochastic
                                                         rounding; ~0.3 of float32), topk or ternary (ComPEFT)
          --upload-compression-fraction F  Agent:UploadCompressionFraction  topk, ternary: fraction of each
                                                         factor sent, in (0, 1] (default 0.1)
                                Agent:MaxAdapterBytes    largest adapter downloaded (default 4294967296); a
                                                         larger reference from the coordinator is refused
                                Agent:MaxRetryDelay      longest backoff between retries (default 00:01:00)
                                Agent:CheckpointInterval  how often training saves its state, so a restart continues
                                                         it (default 00:01:00; 00:00:00 after every step)

        Exit codes: 0 the federation finished (or Ctrl-C/SIGTERM after saving progress), 1 a fatal error,
        2 an invalid setting, model or data file (one line says which).

        """;
}
