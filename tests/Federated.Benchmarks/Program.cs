using BenchmarkDotNet.Running;
using Federated.Benchmarks.Training;

// "training" compares LoRA and full fine-tuning in separate processes; anything else goes to BenchmarkDotNet.
return args switch
{
    ["training"] => TrainingStepBenchmark.Run(),
    ["training-worker", var preset, var mode] => TrainingStepBenchmark.Worker(preset, mode),
    _ => Run(args),
};

static int Run(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    return 0;
}
