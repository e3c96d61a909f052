using System.Diagnostics;
using Federated.Training.Models;
using Federated.Training.Tests.Models;

namespace Federated.Training.Tests.Reference;

/// <summary>
/// The architecture against an implementation in another language and numeric library: numpy, written
/// from the Llama equations, parsing the safetensors file itself (llama_reference.py). Needs Debian's
/// python3 with python3-numpy, which deploy/test.sh installs.
/// </summary>
public sealed class NumpyReferenceTests : IDisposable
{
    const string Python = "/usr/bin/python3";
    static readonly long[] Tokens = [256, 84, 104, 101, 32, 71, 78, 85, 32, 71, 80, 76, 46];
    readonly string _dir = Directory.CreateTempSubdirectory("numpy-ref-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [MemberData(nameof(LlamaForCausalLMTests.Variants), MemberType = typeof(LlamaForCausalLMTests))]
    public void Logits_match_a_numpy_implementation_reading_the_same_checkpoint(string variant)
    {
        // Inside a NativeWork scope: no other test's forced collection can finalize the scalars TorchSharp's operators make.
        using var work = Federated.Core.Runtime.NativeWork.Enter();
        using var model = LlamaForCausalLM.Create(LlamaForCausalLMTests.Variant(variant), seed: 21);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.EndsWith(".bias") || p.name.Contains("norm")))
                p.copy_(randn(p.shape) * 0.1 + (name.Contains("norm") ? 1 : 0));
        HfCheckpoint.Save(model, _dir);
        string output = Path.Combine(_dir, "logits.f64");

        var psi = new ProcessStartInfo(Python, [Path.Combine(AppContext.BaseDirectory, "Reference", "llama_reference.py"), _dir, output, .. Tokens.Select(t => t.ToString())])
        {
            RedirectStandardError = true,
        };
        using (var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {Python}"))
        {
            string error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"the numpy reference failed (deploy/test.sh installs python3-numpy): {error}");
        }
        var bytes = File.ReadAllBytes(output);
        var expected = new double[bytes.Length / 8];
        Buffer.BlockCopy(bytes, 0, expected, 0, bytes.Length);

        using var input = tensor(Tokens).unsqueeze(0);
        using var _ = no_grad();
        using var logits = model.forward(input)[0].to(float64).flatten();
        Assert.Equal(Tokens.Length * model.Config.VocabSize, expected.Length);
        using var reference = tensor(expected);
        double maxError = (logits - reference).abs().max().item<double>();
        Assert.True(maxError < 1e-4, $"max abs logit error {maxError:E2}");
    }
}
