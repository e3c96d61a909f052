using System.CommandLine;
using Federated.Core.Adapters;
using Federated.Core.Aggregation;
using Federated.Core.Formats.Peft;

namespace Federated.Cli.Commands;

/// <summary><c>fed inspect</c>: what an adapter directory holds, with the norms of its updates.</summary>
static class InspectCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("adapter") { Description = "A PEFT adapter directory or a compressed upload" };
        var command = new Command("inspect", "Print an adapter's modules, ranks, alphas, shapes and update norms") { dir };
        command.SetAction(parse =>
        {
            using var adapter = AdapterSources.Read(parse.GetValue(dir)!);
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"base model : {adapter.BaseModel ?? "(not set)"}");
            o.WriteLine($"dtype      : {AdapterDTypes.Name(adapter.DType)}");
            o.WriteLine($"targets    : {string.Join(", ", adapter.TargetModules)}");
            o.WriteLine($"modules    : {adapter.Modules.Count}, ranks {string.Join("/", adapter.Modules.Select(m => m.Rank).Distinct().Order())}, " +
                        $"{adapter.ParameterCount:N0} parameters{(adapter.UseRsLora ? ", rsLoRA" : "")}");
            o.WriteLine($"||dW||_F   : {LoraNorms.Frobenius(adapter):G6}");
            o.WriteLine();
            int width = Math.Max(6, adapter.Modules.Max(m => m.Name.Length));
            o.WriteLine($"{"module".PadRight(width)}  {"rank",5}  {"alpha",8}  {"scale",8}  {"d_out x d_in",13}  {"||A||_F",10}  {"||B||_F",10}  {"||dW||_F",10}");
            foreach (var m in adapter.Modules)
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                double normA = m.A.to(TorchSharp.torch.float64).norm().item<double>();
                double normB = m.B.to(TorchSharp.torch.float64).norm().item<double>();
                o.WriteLine($"{m.Name.PadRight(width)}  {m.Rank,5}  {m.Alpha,8:G4}  {m.Scale,8:G4}  {$"{m.OutFeatures}x{m.InFeatures}",13}  " +
                            $"{normA,10:G4}  {normB,10:G4}  {LoraNorms.Frobenius(m),10:G4}");
            }
            return FedCommandLine.ExitOk;
        });
        return command;
    }
}
