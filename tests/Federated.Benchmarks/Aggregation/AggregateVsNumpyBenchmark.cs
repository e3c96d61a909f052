using System.Diagnostics;
using System.Globalization;
using System.Text;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Formats.Peft;
using Federated.Core.Robust;
using Federated.Core.Runtime;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Aggregation;

/// <summary>
/// This project's aggregation against numpy doing the same math (aggregate_numpy.py, written from the published formulas),
/// side by side in one run: K = 10 and 100 rank-16 adapters of Qwen2-0.5B's q_proj (896x896) and v_proj (128x896) over
/// 24 layers (4.3 MB each), written once as PEFT directories. Per row and run, interleaved: the numpy process (its
/// aggregation timed inside, its wall time and peak RSS outside), the whole `fed aggregate` process (wall time, peak RSS)
/// and the library call (<see cref="Aggregator.Aggregate"/> in a worker process that read the same directories and retains
/// freed native memory as an aggregating host does (<see cref="NativeAllocator"/>). Both sides time their call the same way
/// (<see cref="CallTiming"/>): calls repeat for at least two seconds and two calls, and the median of all but the first is the
/// call's time, so a fast call is measured in its steady state (the runtime's tiered JIT and first-touch page faults are
/// done, as in a coordinator that aggregates round after round) and a slow one is not repeated for long. Medians over the
/// runs. A single-threaded memory copy of each row's input bytes, timed the same way in the same run, gives the bandwidth
/// fraction of FedAvg and FLoRA. Then median and trimmed mean run ten times
/// in one process, with the resident set after each call, to show memory does not grow. Since ALGORITHMS.md A8, flora
/// writes a module stacked past min(d_out, d_in) as its dense sum (v_proj at K = 10, every module at K = 100), which
/// aggregate_numpy.py's plain stack does not: the same sum, not the same work.
/// Run: deploy/benchmark.sh aggregate-vs-numpy [--runs N] [--clients 10,100] [--ops fedit,flora,...] [--no-append]
/// </summary>
static class AggregateVsNumpyBenchmark
{
    const int Hidden = 896, Layers = 24, KvDim = 128, Rank = 16, GrowthCalls = 10;
    static readonly string[] AllOps = ["fedit", "flora", "krum", "median", "trimmed-mean"];

    /// <summary>f: Krum's assumed attackers and the trimmed mean's values cut per side (20 at K = 100, 2 at K = 10).</summary>
    static int F(int clients) => clients >= 100 ? 20 : 2;

    static string Label(string op, int clients) => op switch
    {
        "fedit" => "FedAvg of the factors (fedit)",
        "flora" => "FLoRA stacking",
        "krum" => $"Krum (f = {F(clients)}) + flora",
        "median" => "coordinate-wise median (dW)",
        _ => $"trimmed mean (f = {F(clients)}, dW)",
    };

    static string[] FedArguments(string op, int clients) => op switch
    {
        "fedit" or "flora" => ["--strategy", op],
        "krum" => ["--strategy", "flora", "--rule", "krum", "--f", F(clients).ToString(CultureInfo.InvariantCulture)],
        _ => ["--rule", op, "--f", F(clients).ToString(CultureInfo.InvariantCulture)],
    };

    public static int Run(string[] args)
    {
        int runs = 3;
        int[] clientCounts = [10, 100];
        string[] ops = AllOps;
        bool append = true;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--clients": clientCounts = args[++i].Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--ops": ops = args[++i].Split(','); break;
                case "--no-append": append = false; break;
                default: throw new ArgumentException($"unknown argument '{args[i]}'");
            }

        string root = Directory.CreateTempSubdirectory("fed-aggregate-vs-numpy-").FullName;
        try
        {
            var build = Stopwatch.StartNew();
            var directories = WriteAdapters(root, clientCounts.Max());
            long adapterBytes = AdapterBytes();
            Console.WriteLine(FormattableString.Invariant(
                $"{directories.Count} adapters of {adapterBytes / 1e6:F2} MB written in {build.Elapsed.TotalSeconds:F1} s"));
            var copyGBps = clientCounts.ToDictionary(k => k, k => CopyBandwidth(adapterBytes * k));
            Console.WriteLine("memory copy: " + string.Join(", ", copyGBps.Select(c => FormattableString.Invariant($"K = {c.Key} {c.Value:F2} GB/s"))));

            var rows = clientCounts.SelectMany(k => ops.Select(op => (Op: op, Clients: k))).ToList();
            var samples = rows.ToDictionary(r => r, _ => new List<Sample>());
            var readFloor = clientCounts.ToDictionary(k => k, _ => new List<double>());
            var productsFloor = clientCounts.ToDictionary(k => k, _ => new List<(double Products, double Global, double Checked)>());
            for (int run = 0; run < runs; run++)
                foreach (var row in rows)
                {
                    if (row.Op == ops[0])
                    {
                        readFloor[row.Clients].Add(ReadSeconds(adapterBytes, row.Clients));
                        Console.WriteLine(FormattableString.Invariant($"run {run + 1} K={row.Clients}: the input read once by two threads in {readFloor[row.Clients][^1] * 1000:F1} ms"));
                        if (ops.Contains("flora"))
                        {
                            productsFloor[row.Clients].Add(BoundedGlobalSeconds(row.Clients));
                            var (products, global, withChecks) = productsFloor[row.Clients][^1];
                            Console.WriteLine(FormattableString.Invariant($"run {run + 1} K={row.Clients}: the bounded global's products alone in {products * 1000:F1} ms, the whole global without checks in {global * 1000:F1} ms, with each client's check and norm in {withChecks * 1000:F1} ms"));
                        }
                    }
                    var inputs = directories.Take(row.Clients).ToList();
                    var sample = new Sample(Numpy(root, row.Op, row.Clients, inputs), Fed(root, row.Op, row.Clients, inputs), Library(root, row.Op, row.Clients));
                    samples[row].Add(sample);
                    Console.WriteLine(FormattableString.Invariant(
                        $"run {run + 1} K={row.Clients} {row.Op}: numpy {sample.Numpy.CallSeconds:F3} s call / {sample.Numpy.WallSeconds:F2} s process ({sample.Numpy.PeakMiB:F0} MiB); ") +
                        FormattableString.Invariant(
                        $"ours {sample.Library.CallSeconds:F3} s call ({sample.Library.PeakMiB:F0} MiB) / {sample.Fed.WallSeconds:F2} s process ({sample.Fed.PeakMiB:F0} MiB) {sample.Library.Note}"));
                }

            var growth = new List<(int Clients, string Op, string Line)>();
            foreach (var op in ops.Where(o => o is "median" or "trimmed-mean"))
                foreach (int k in clientCounts.Where(k => k >= 100))
                {
                    string line = Worker(root, op, k, GrowthCalls);
                    growth.Add((k, op, line));
                    Console.WriteLine($"{GrowthCalls} calls K={k} {op}: {line}");
                }

            string report = Report(samples, growth, copyGBps, readFloor.ToDictionary(p => p.Key, p => Statistics.Median(p.Value)),
                productsFloor.Where(p => p.Value.Count > 0).ToDictionary(p => p.Key,
                    p => (Statistics.Median(p.Value.Select(v => v.Products)), Statistics.Median(p.Value.Select(v => v.Global)), Statistics.Median(p.Value.Select(v => v.Checked)))), adapterBytes, runs);
            Console.Write(report);
            if (append)
                ResultsFile.Append("Aggregation against numpy (`deploy/benchmark.sh aggregate-vs-numpy`)",
                    $"TorchSharp 0.107, numpy {NumpyVersion()} (Debian python3-numpy)", report);
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    sealed record Measurement(double CallSeconds, double WallSeconds, double PeakMiB, string Note = "");
    sealed record Sample(Measurement Numpy, Measurement Fed, Measurement Library);

    static long AdapterBytes() => Shapes().Sum(s => (long)Rank * (s.InFeatures + s.OutFeatures)) * sizeof(float);

    static IReadOnlyList<ModuleShape> Shapes() => ModuleShape.LlamaFamily(Hidden, Layers, ["q_proj", "v_proj"], KvDim);

    static List<string> WriteAdapters(string root, int count)
    {
        var shapes = Shapes();
        var directories = new List<string>();
        for (int k = 0; k < count; k++)
        {
            string directory = Path.Combine(root, "adapters", $"client-{k:D3}");
            using var adapter = RandomAdapters.Create(shapes, Rank, alpha: 2 * Rank, seed: 1000 + k, baseModel: "Qwen/Qwen2-0.5B");
            PeftAdapterDirectory.Write(adapter, directory);
            directories.Add(directory);
        }
        return directories;
    }

    /// <summary>One thread copying <paramref name="bytes"/> from one buffer to another, timed as the calls are.</summary>
    static double CopyBandwidth(long bytes)
    {
        var from = GC.AllocateUninitializedArray<byte>(checked((int)bytes), pinned: true);
        var to = GC.AllocateUninitializedArray<byte>(checked((int)bytes), pinned: true);
        from.AsSpan().Fill(1);
        to.AsSpan().Clear();
        return bytes / CallTiming.Median(() => from.AsSpan().CopyTo(to)) / 1e9;
    }

    /// <summary>
    /// Two threads reading K adapter-sized buffers once (summing their floats), timed as the calls are: the least time any
    /// aggregation that reads its whole input can take on this machine, whatever it computes.
    /// </summary>
    static double ReadSeconds(long adapterBytes, int clients)
    {
        var buffers = Enumerable.Range(0, clients).Select(_ =>
        {
            var b = GC.AllocateUninitializedArray<float>(checked((int)(adapterBytes / sizeof(float))), pinned: true);
            b.AsSpan().Fill(1);
            return b;
        }).ToArray();
        var sums = new float[2];
        return CallTiming.Median(() => Parallel.For(0, 2, t =>
        {
            for (int k = t; k < clients; k += 2) sums[t] += System.Numerics.Tensors.TensorPrimitives.Sum<float>(buffers[k]);
        }));
    }

    /// <summary>
    /// What FLoRA's bounded global cannot do without (ALGORITHMS.md A8): every module whose stacked rank R = K x 16 exceeds
    /// min(d_out, d_in) is multiplied out, (d_out x R)(R x d_in), 2 d_out d_in R flops however the clients are grouped; every
    /// other module is stacked, its K clients' A rows scaled into one R x d_in matrix and their B columns side by side. Timed
    /// alike on the module workers (<see cref="CoreWorkers"/>, single-threaded libtorch each), float32: the products alone
    /// (operands already stacked), the whole global (the products, and the other modules stacked from K separate client
    /// tensors) with no finiteness checks or norms, and the same with each client's check and norm of every module
    /// (<see cref="FactorScan.Scan(LoraModule)"/>, the aggregation's kernel: ||s B A||_F from the factors' r x r Grams, at least
    /// r (r + 1) / 2 (d_in + d_out) multiply-adds a client and module), a stacked module's clients scanned just before they are
    /// copied (so the copy reads them from cache, as a fused pass would).
    /// </summary>
    static (double Products, double Global, double Checked) BoundedGlobalSeconds(int clients)
    {
        int stacked = clients * Rank;
        var shapes = Shapes();
        LoraModule[] Clients(ModuleShape s) =>
            [.. Enumerable.Range(0, clients).Select(_ => new LoraModule(s.Name, randn(Rank, s.InFeatures), randn(s.OutFeatures, Rank), alpha: 2 * Rank))];
        var products = shapes.Where(s => stacked > Math.Min(s.OutFeatures, s.InFeatures))
            .Select(s => (B: randn(s.OutFeatures, stacked), A: randn(stacked, s.InFeatures), Product: empty(s.OutFeatures, s.InFeatures), Clients: Clients(s))).ToArray();
        var stacks = shapes.Where(s => stacked <= Math.Min(s.OutFeatures, s.InFeatures))
            .Select(s => (Clients: Clients(s), StackedB: empty(s.OutFeatures, stacked), StackedA: empty(stacked, s.InFeatures))).ToArray();
        static Span<float> Floats(Tensor t) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes);
        void Product(int m) => products[m].Product.addmm_(products[m].B, products[m].A, beta: 0, alpha: 1);
        void Stack(int m, bool check)
        {
            var (modules, stackedB, stackedA) = stacks[m];
            Span<float> to = Floats(stackedA), columns = Floats(stackedB);
            int width = (int)modules[0].InFeatures, rows = (int)modules[0].OutFeatures;
            for (int k = 0; k < clients; k++)
            {
                if (check) FactorScan.Scan(modules[k]);
                System.Numerics.Tensors.TensorPrimitives.Multiply(Floats(modules[k].A), 0.5f, to.Slice(k * Rank * width, Rank * width));
                var from = Floats(modules[k].B);
                for (int i = 0; i < rows; i++) from.Slice(i * Rank, Rank).CopyTo(columns.Slice(i * stacked + k * Rank, Rank));
            }
        }
        void Global(int i, bool check)
        {
            if (i >= products.Length) Stack(i - products.Length, check);
            else
            {
                Product(i);
                if (check)
                    foreach (var module in products[i].Clients) FactorScan.Scan(module);
            }
        }
        try
        {
            double productSeconds = CallTiming.Median(() => CoreWorkers.For(products.Length, Product));
            double globalSeconds = CallTiming.Median(() => CoreWorkers.For(products.Length + stacks.Length, i => Global(i, check: false)));
            double checkedSeconds = CallTiming.Median(() => CoreWorkers.For(products.Length + stacks.Length, i => Global(i, check: true)));
            return (productSeconds, globalSeconds, checkedSeconds);
        }
        finally
        {
            foreach (var (b, a, product, modules) in products)
            {
                b.Dispose();
                a.Dispose();
                product.Dispose();
                foreach (var m in modules) m.Dispose();
            }
            foreach (var (modules, stackedB, stackedA) in stacks)
            {
                foreach (var m in modules) m.Dispose();
                stackedB.Dispose();
                stackedA.Dispose();
            }
        }
    }

    /// <summary>numpy in its own process under /usr/bin/time: the aggregation's seconds from its stdout, wall and peak RSS from time.</summary>
    static Measurement Numpy(string root, string op, int clients, List<string> inputs)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "Aggregation", "aggregate_numpy.py");
        string output = Path.Combine(root, "numpy-out.safetensors");
        var (stdout, wall, peak) = Timed("/usr/bin/python3", [script, op, F(clients).ToString(CultureInfo.InvariantCulture), output, .. inputs]);
        File.Delete(output);
        return new Measurement(double.Parse(stdout.Trim(), CultureInfo.InvariantCulture), wall, peak);
    }

    /// <summary>The whole `fed aggregate` process: read, hygiene, aggregate, write the PEFT directory and the report.</summary>
    static Measurement Fed(string root, string op, int clients, List<string> inputs)
    {
        string output = Path.Combine(root, "fed-out");
        var (_, wall, peak) = Timed("dotnet", [Path.Combine(AppContext.BaseDirectory, "fed.dll"), "aggregate", .. FedArguments(op, clients), "--out", output, .. inputs]);
        string note = FormattableString.Invariant($"output {DirectoryBytes(output) / 1e6:F1} MB");
        Directory.Delete(output, recursive: true);
        return new Measurement(double.NaN, wall, peak, note);
    }

    static Measurement Library(string root, string op, int clients)
    {
        var parts = Worker(root, op, clients, repeats: 0).Split(' ', 3);
        return new Measurement(double.Parse(parts[0], CultureInfo.InvariantCulture), double.NaN, double.Parse(parts[1], CultureInfo.InvariantCulture), parts[2]);
    }

    static string Worker(string root, string op, int clients, int repeats)
    {
        var (stdout, _, _) = Timed("dotnet", [typeof(AggregateVsNumpyBenchmark).Assembly.Location, "aggregate-worker", op,
            clients.ToString(CultureInfo.InvariantCulture), repeats.ToString(CultureInfo.InvariantCulture), Path.Combine(root, "adapters")]);
        return stdout.Trim();
    }

    static (string Stdout, double WallSeconds, double PeakMiB) Timed(string program, IEnumerable<string> arguments)
    {
        string stats = Path.GetTempFileName();
        try
        {
            var psi = new ProcessStartInfo("/usr/bin/time", ["-f", "%e %M", "-o", stats, program, .. arguments])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(psi)!;
            var error = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments.Take(4))} ... failed ({process.ExitCode}): {error.Result}{stdout}");
            var fields = File.ReadAllText(stats).Trim().Split('\n')[^1].Split(' ');
            return (stdout, double.Parse(fields[0], CultureInfo.InvariantCulture), double.Parse(fields[1], CultureInfo.InvariantCulture) / 1024);
        }
        finally
        {
            File.Delete(stats);
        }
    }

    static long DirectoryBytes(string directory) => new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

    static string NumpyVersion()
    {
        var psi = new ProcessStartInfo("/usr/bin/python3", ["-c", "import numpy; print(numpy.__version__)"]) { RedirectStandardOutput = true };
        using var process = Process.Start(psi)!;
        string version = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return version;
    }

    /// <summary>
    /// The library call alone in this process: reads <paramref name="clients"/> adapters as `fed aggregate` does, builds the same
    /// aggregator and times the call (<see cref="CallTiming"/>). Prints "median-seconds peak-MiB note"; or, with
    /// <paramref name="repeats"/> calls after a warm-up call, the resident set after each call and the peak.
    /// </summary>
    public static int Worker(string op, int clients, int repeats, string adapters)
    {
        // As a host that aggregates round after round (README): freed tensor memory is reused, not faulted in afresh.
        NativeAllocator.RetainFreedMemory();
        var inputs = Directory.GetDirectories(adapters).Order(StringComparer.Ordinal).Take(clients).ToList();
        var updates = inputs.Select(d => new ClientUpdate(d, PeftAdapterDirectory.Read(d))).ToList();
        var args = FedArguments(op, clients);
        string? Value(string name) => Array.IndexOf(args, name) is var i and >= 0 ? args[i + 1] : null;
        var aggregator = new AggregatorOptions(Value("--strategy") ?? "flora", Value("--rule"), F: int.Parse(Value("--f") ?? "0", CultureInfo.InvariantCulture)).Build();
        string note;
        using (var first = aggregator.Aggregate(updates))
            note = FormattableString.Invariant($"rank {first.Global.Modules[0].Rank}");
        if (repeats == 0)
        {
            double seconds = CallTiming.Median(() => aggregator.Aggregate(updates).Dispose());
            Console.WriteLine(FormattableString.Invariant($"{seconds:F6} {ProcessMemory.PeakWorkingSet / 1048576.0:F1} {note}"));
        }
        else
        {
            var times = new List<double>();
            var resident = new List<double>();
            for (int i = 0; i < repeats; i++)
            {
                var clock = Stopwatch.StartNew();
                using (aggregator.Aggregate(updates)) times.Add(clock.Elapsed.TotalSeconds);
                resident.Add(ProcessMemory.WorkingSet / 1048576.0);
            }
            Console.WriteLine(FormattableString.Invariant(
                $"peak {ProcessMemory.PeakWorkingSet / 1048576.0:F0} MiB; resident after each call (MiB): {string.Join(", ", resident.Select(r => r.ToString("F0", CultureInfo.InvariantCulture)))}; call {Statistics.Median(times):F2} s"));
        }
        foreach (var u in updates) u.Adapter.Dispose();
        return 0;
    }

    static string Report(Dictionary<(string Op, int Clients), List<Sample>> samples, List<(int Clients, string Op, string Line)> growth,
        Dictionary<int, double> copyGBps, Dictionary<int, double> readFloor, Dictionary<int, (double Products, double Global, double Checked)> productsFloor, long adapterBytes, int runs)
    {
        static double Median(IEnumerable<double> values) => Statistics.Median(values);
        var text = new StringBuilder()
            .AppendLine(FormattableString.Invariant($"K rank-16 adapters of Qwen2-0.5B's q_proj (896x896) and v_proj (128x896), 24 layers, {adapterBytes / 1e6:F2} MB fp32 each, as PEFT directories. "))
            .AppendLine(FormattableString.Invariant($"Medians of {runs} interleaved runs. numpy: aggregate_numpy.py (the same math from the published formulas; median and trimmed mean on dW = s B A module by module), ") +
                "its aggregation timed inside the process. Ours: the library call (`Aggregator.Aggregate`: hygiene, norms, rule, strategy) in a process that " +
                "retains freed native memory as an aggregating host does (`NativeAllocator.RetainFreedMemory`), and the whole " +
                "`fed aggregate` process (start, read, aggregate, write). Both calls are timed alike: repeated for at least 2 s and 2 calls, " +
                "the median of all but the first (a fast call in its steady state, after the JIT and first-touch page faults). " +
                "Peak = VmHWM of each process (/usr/bin/time). numpy and our processes run in the same environment (glibc's tunables, " +
                "if any, in the heading). Bandwidth = input bytes / our call time, as a fraction of a one-thread memory copy " +
                "of the same number of bytes, timed alike in the same run (" +
                string.Join(", ", copyGBps.Select(c => FormattableString.Invariant($"K = {c.Key}: {c.Value:F1} GB/s"))) + "). " +
                "Read floor = two threads reading the K inputs once (summing their floats), timed alike in each run (medians: " +
                string.Join(", ", readFloor.Select(c => FormattableString.Invariant($"K = {c.Key}: {c.Value * 1000:F1} ms"))) + "): " +
                "no call that reads its whole input can take less; numpy's call and ours are given as multiples of it.")
            .AppendLine()
            .AppendLine("| K | operation | numpy call | ours call | numpy / ours | numpy, ours / read floor | numpy process | `fed aggregate` | numpy / ours | peak MiB numpy / fed / library | bandwidth | output |")
            .AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var ((op, k), list) in samples)
        {
            double numpyCall = Median(list.Select(s => s.Numpy.CallSeconds)), ours = Median(list.Select(s => s.Library.CallSeconds));
            double numpyWall = Median(list.Select(s => s.Numpy.WallSeconds)), fedWall = Median(list.Select(s => s.Fed.WallSeconds));
            string floor = op is "fedit" or "flora" ? FormattableString.Invariant($"{numpyCall / readFloor[k]:F1}, {ours / readFloor[k]:F1}") : "";
            string bandwidth = op is "fedit" or "flora" ? FormattableString.Invariant($"{k * adapterBytes / ours / 1e9 / copyGBps[k]:F2}") : "";
            text.AppendLine(FormattableString.Invariant(
                $"| {k} | {Label(op, k)} | {Seconds(numpyCall)} | {Seconds(ours)} | {numpyCall / ours:F1}x | {floor} | {numpyWall:F2} s | {fedWall:F2} s | {numpyWall / fedWall:F1}x | ") +
                FormattableString.Invariant($"{Median(list.Select(s => s.Numpy.PeakMiB)):F0} / {Median(list.Select(s => s.Fed.PeakMiB)):F0} / {Median(list.Select(s => s.Library.PeakMiB)):F0} | {bandwidth} | ") +
                $"{list[0].Library.Note}, {list[0].Fed.Note} |");
        }
        if (productsFloor.Count > 0)
            text.AppendLine().AppendLine(
                "FLoRA's floor: its bounded global multiplies out every module stacked past min(d_out, d_in) (ALGORITHMS.md A8; v_proj at K = 10, every module at K = 100) " +
                "and stacks the others. Timed alike in each run on the module workers (one pinned thread per core, single-threaded libtorch), float32, medians: " +
                string.Join("; ", productsFloor.Select(p => FormattableString.Invariant(
                    $"K = {p.Key}: the products alone {p.Value.Products * 1000:F1} ms, the whole global without checks or norms {p.Value.Global * 1000:F1} ms, the same with each client's check and norm (the aggregation's kernel) {p.Value.Checked * 1000:F1} ms, against half of numpy's FedAvg call {Median(samples.GetValueOrDefault(("fedit", p.Key), []).Select(s => s.Numpy.CallSeconds).DefaultIfEmpty(double.NaN)) * 500:F1} ms and the input's time at half of a memory copy's bandwidth {2 * p.Key * adapterBytes / 1e9 / copyGBps[p.Key] * 1000:F1} ms"))) + ".");
        if (growth.Count > 0)
        {
            text.AppendLine().AppendLine($"The same rule called {GrowthCalls} times in one process (after a warm-up call):").AppendLine();
            foreach (var (k, op, line) in growth) text.AppendLine($"- K = {k}, {op}: {line}");
        }
        return text.ToString();
    }

    static string Seconds(double s) => s < 1 ? FormattableString.Invariant($"{s * 1000:F1} ms") : FormattableString.Invariant($"{s:F2} s");
}
