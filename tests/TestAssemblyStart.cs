using System.Runtime.CompilerServices;
using Federated.Core.Runtime;

namespace Federated.Testing;

/// <summary>Compiled into every test assembly: it chooses MKL's kernels as the hosts do at start, before any test touches a tensor.</summary>
static class TestAssemblyStart
{
#pragma warning disable CA2255 // a test assembly is its process's host: the choice must precede every test
    [ModuleInitializer]
    internal static void ChooseMklKernels() => MklDispatch.UseAvx512OnAmd();
#pragma warning restore CA2255
}
