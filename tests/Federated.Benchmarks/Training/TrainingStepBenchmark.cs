using System.Diagnostics;
using Federated.Training.Data;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Training;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Training;

/// <summary>
/// Training step time and peak memory, LoRA against full fine-tuning of the same model and batch, and LoRA on a
/// bf16 base (the GPU's mixed precision, run on the CPU: same code, and the base's memory halved).
/// Step times: the fp32 modes train side by side in one process, taking turns in rounds of a few steps, so a slow spell
/// of this shared VM (its speed drifts by a third within minutes) hits every mode alike; each round gives a ratio to the
/// full fine-tuning steps next to it. Peak memory: each (preset, mode) in its own process, because libtorch's memory is
/// native (invisible to BenchmarkDotNet) and a process's peak resident set (VmHWM) only grows.
/// Run: deploy/benchmark.sh training   (or: training-worker PRESET MODE for one mode's memory)
/// </summary>
static class TrainingStepBenchmark
{
    const int Batch = 8, Context = 128, LoraRank = 16, Warmup = 5, Rounds = 9, StepsPerRound = 8, WorkerSteps = 20;
    static readonly string[] AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    /// <summary>The FLoRA paper's setup and PEFT's usual Llama default.</summary>
    static readonly string[] QueryValue = ["q_proj", "v_proj"];
    static readonly (string Mode, string Label)[] Fp32Modes = [("full", "full"), ("lora", "lora (all linear)"), ("lora-qv", "lora (q, v)")];
    static readonly (string Mode, string Label)[] Bf16Modes = [("lora-bf16", "lora (all linear), bf16 base"), ("lora-qv-bf16", "lora (q, v), bf16 base")];

    public static int Run()
    {
        set_num_threads(Environment.ProcessorCount);
        Console.WriteLine($"batch {Batch} x {Context} tokens, LoRA rank {LoraRank}; fp32 modes in one process taking turns, {Rounds} rounds of " +
            $"{StepsPerRound} steps after {Warmup} (ms/step: median step; 'step vs full': median of the rounds' ratios of median steps); " +
            $"peak RSS and the bf16 rows: one process per mode, median of {WorkerSteps} steps");
        Console.WriteLine("| preset | mode | ms/step | tokens/s | peak RSS MB | step vs full | ratio range |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var preset in new[] { "tiny", "small" })
        {
            var steps = TakeTurns(preset);
            var full = steps["full"];
            foreach (var (mode, label) in Fp32Modes)
            {
                var ratios = steps[mode].Select((round, r) => Statistics.Median(round) / Statistics.Median(full[r])).ToList();
                double ms = Statistics.Median(steps[mode].SelectMany(round => round));
                Row(preset, label, ms, Measure(preset, mode).PeakMb, Statistics.Median(ratios), $"{ratios.Min():F2}-{ratios.Max():F2}");
            }
            double fullMs = Statistics.Median(full.SelectMany(round => round));
            foreach (var (mode, label) in Bf16Modes)
            {
                var m = Measure(preset, mode);
                Row(preset, label, m.MsPerStep, m.PeakMb, m.MsPerStep / fullMs, "");
            }
        }
        return 0;
    }

    static void Row(string preset, string mode, double msPerStep, double peakMb, double vsFull, string range) =>
        Console.WriteLine(FormattableString.Invariant($"| {preset} | {mode} | {msPerStep:F1} | {Batch * Context * 1000.0 / msPerStep:N0} | {peakMb:N0} | {vsFull:F2} | {range} |"));

    /// <summary>Every fp32 mode's step times (ms), per round.</summary>
    static Dictionary<string, List<List<double>>> TakeTurns(string preset)
    {
        var runs = Fp32Modes.Select(m => new TrainingRun(preset, m.Mode)).ToList();
        try
        {
            foreach (var run in runs) run.Steps(Warmup);
            var steps = runs.ToDictionary(r => r.Mode, _ => new List<List<double>>());
            for (int round = 0; round < Rounds; round++)
                foreach (var run in runs)
                    steps[run.Mode].Add(run.Steps(StepsPerRound));
            return steps;
        }
        finally
        {
            foreach (var run in runs) run.Dispose();
        }
    }

    static (double MsPerStep, double PeakMb) Measure(string preset, string mode)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!, [typeof(TrainingStepBenchmark).Assembly.Location, "training-worker", preset, mode])
        {
            RedirectStandardOutput = true,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) != "dotnet") psi.ArgumentList.RemoveAt(0);
        using var process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        var parts = output.Split(' ');
        if (process.ExitCode != 0 || parts.Length != 2) throw new InvalidOperationException($"worker {preset} {mode} failed: {output}");
        return (double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>One mode alone in this process: prints "median-ms-per-step peak-MB".</summary>
    public static int Worker(string preset, string mode)
    {
        set_num_threads(Environment.ProcessorCount);
        using var run = new TrainingRun(preset, mode);
        run.Steps(Warmup);
        double ms = Statistics.Median(run.Steps(WorkerSteps));
        double peakMb = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] is var kb ? double.Parse(kb) / 1024 : 0;
        Console.WriteLine(FormattableString.Invariant($"{ms:F2} {peakMb:F1}"));
        return 0;
    }

    /// <summary>A model of the preset set up for one mode, trained a few steps at a time on the same fixed batch.</summary>
    sealed class TrainingRun : IDisposable
    {
        readonly LlamaForCausalLM _model;
        readonly IReadOnlyList<TorchSharp.Modules.Parameter> _parameters;
        readonly List<TrainingExample> _examples;

        public TrainingRun(string preset, string mode)
        {
            Mode = mode;
            var dtype = mode.EndsWith("-bf16", StringComparison.Ordinal) ? ScalarType.BFloat16 : ScalarType.Float32;
            _model = LlamaForCausalLM.Create(LlamaConfig.Preset(preset), seed: 1, dtype);
            if (mode.StartsWith("lora", StringComparison.Ordinal))
            {
                LoraInjection.Inject(_model, mode.StartsWith("lora-qv", StringComparison.Ordinal) ? QueryValue : AllLinear, LoraRank, 2 * LoraRank, seed: 2);
                _parameters = LoraInjection.TrainableParameters(_model);
            }
            else _parameters = _model.parameters().ToList();
            var generator = new Random(3);
            _examples = Enumerable.Range(0, Batch).Select(_ => TrainingExample.Unmasked(
                Enumerable.Range(0, Context).Select(_ => generator.Next(256)).ToArray())).ToList();
        }

        public string Mode { get; }

        /// <summary>Trains <paramref name="count"/> steps (a fresh AdamW, as every local round starts one); their durations in ms.</summary>
        public List<double> Steps(int count)
        {
            var times = new StepTimes();
            LocalTrainer.Train(_model, _parameters, _ => TrainingBatcher.Batches(_examples, Batch, 258, seed: null), new TrainerOptions { MaxSteps = count }, times);
            return times.Milliseconds;
        }

        public void Dispose() => _model.Dispose();
    }

    /// <summary>Each step's duration, from the trainer's synchronous progress reports.</summary>
    sealed class StepTimes : IProgress<TrainingProgress>
    {
        readonly Stopwatch _clock = Stopwatch.StartNew();
        double _last;
        public List<double> Milliseconds { get; } = [];

        public void Report(TrainingProgress value)
        {
            double now = _clock.Elapsed.TotalMilliseconds;
            Milliseconds.Add(now - _last);
            _last = now;
        }
    }
}
