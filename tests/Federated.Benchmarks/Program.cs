using System.Globalization;
using BenchmarkDotNet.Running;
using Federated.Benchmarks.Aggregation;
using Federated.Benchmarks.Coordinator;
using Federated.Benchmarks.Export;
using Federated.Benchmarks.Security;
using Federated.Benchmarks.Training;
using Federated.Benchmarks.Upload;
using Federated.Core.Runtime;

// "training" compares LoRA and full fine-tuning in separate processes; "coordinator" measures rounds of
// 1,000 of 10,000 clients on a real silo (embedded and Redis); "upload" measures agent upload throughput against raw
// socket copies and the coordinator's memory under 20 concurrent uploads; "export" exports a federation's 10-round history
// (exact and truncated) against a memory copy of it; "ingest" uploads 1,000 agents' adapters through gRPC into one round on
// one and three silos; "aggregate-vs-numpy" times the aggregation (library call and `fed aggregate`) against numpy doing the
// same math, K = 10 and 100 Qwen2-0.5B q/v adapters; "bounded-global" sizes and times a round's global at K = 10, 100 and
// 1,000 (the stack, the lossless bound, the energy threshold); "security" runs issue 15's attacks against real coordinator and agent
// processes (Security/); anything else goes to BenchmarkDotNet.
MklDispatch.UseAvx512OnAmd(); // as the hosts do; FEDERATED_MKL_AVX512=0 measures MKL's vendor default
return args switch
{
    ["coordinator", .. var modes] => CoordinatorRoundBenchmark.Run(modes),
    ["coordinator-worker", var mode, var resultFile] => await CoordinatorRoundBenchmark.WorkerAsync(mode, resultFile),
    ["ingest", .. var parts] => await IngestBenchmark.RunAsync(parts),
    ["module-reads"] => await ModuleReadBenchmark.RunAsync(),
    ["module-reads-worker", var redis] => await ModuleReadBenchmark.WorkerAsync(redis),
    ["upload", .. var parts] => await UploadBenchmark.RunAsync(parts),
    ["upload-sink", var port] => await UploadSink.RunAsync(int.Parse(port, CultureInfo.InvariantCulture)),
    ["upload-sink", var port, var redis] => await UploadSink.RunAsync(int.Parse(port, CultureInfo.InvariantCulture), redis),
    ["security", .. var attacks] => await SecuritySuite.RunAsync(attacks),
    ["training"] => TrainingStepBenchmark.Run(),
    ["export"] => ExportBenchmark.Run(),
    ["aggregate-vs-numpy", .. var options] => AggregateVsNumpyBenchmark.Run(options),
    ["bounded-global", .. var options] => BoundedGlobalBenchmark.Run(options),
    ["aggregate-worker", var op, var clients, var repeats, var adapters] =>
        AggregateVsNumpyBenchmark.Worker(op, int.Parse(clients, CultureInfo.InvariantCulture), int.Parse(repeats, CultureInfo.InvariantCulture), adapters),
    ["export-worker", var mode, var history] => ExportBenchmark.Worker(mode, history),
    ["training-worker", var preset, var mode] => TrainingStepBenchmark.Worker(preset, mode),
    _ => Run(args),
};

static int Run(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(CoordinatorRoundBenchmark).Assembly).Run(args);
    return 0;
}
