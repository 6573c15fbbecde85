"""Which behaviour each agent gets: a default table keyed by agent name, overridable per agent
with ``role:`` in the startup config. Roles also declare the agents they call at run time
(beyond the start-up ``dependencies``), so that those edges can be proxied and faulted too.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("registry", "twin", "coordinator", "memory", "memory-client", "language", "gpu", "observability",
         "gateway", "emotion", "generic")

DEFAULT_ROLES: dict[str, str] = {
    "ServiceRegistry": "registry",
    "SystemDigitalTwin": "twin",
    "RequestCoordinator": "coordinator",
    "MemoryClient": "memory-client",
    "MemoryOrchestratorService": "memory",
    "SessionMemoryAgent": "memory",
    "KnowledgeBase": "memory",
    "NLUAgent": "language",
    "ChitchatAgent": "language",
    "Responder": "language",
    "IntentionValidatorAgent": "language",
    "TranslationService": "language",
    "FixedStreamingTranslation": "language",
    "StreamingLanguageAnalyzer": "language",
    "ModelManagerSuite": "gpu",
    "FaceRecognitionAgent": "gpu",
    "STTService": "gpu",
    "TTSService": "gpu",
    "StreamingTTSAgent": "gpu",
    "StreamingSpeechRecognition": "gpu",
    "ChainOfThoughtAgent": "gpu",
    "GoTToTAgent": "gpu",
    "CognitiveModelAgent": "gpu",
    "TinyLlamaServiceEnhanced": "gpu",
    "NLLBAdapter": "gpu",
    "SelfTrainingOrchestrator": "gpu",
    "LocalFineTunerAgent": "gpu",
    "LearningAdjusterAgent": "gpu",
    "VisionProcessingAgent": "gpu",
    "DreamWorldAgent": "gpu",
    "DreamingModeAgent": "gpu",
    "ObservabilityHub": "observability",
    "UnifiedWebAgent": "gateway",
    "EmotionSynthesisAgent": "emotion",
}
# roles whose main port speaks HTTP in the reference profile (the real ObservabilityHub is a FastAPI app on its
# configured port, PROTOCOL.md §5): clients must not send ZeroMQ there
HTTP_MAIN_ROLES = frozenset({"observability"})

# Run-time calls per role, by agent name: (name, critical). A non-critical target being down
# degrades an answer instead of failing it.
ROLE_CALLS: dict[str, tuple[tuple[str, bool], ...]] = {
    "coordinator": (("NLUAgent", True), ("ChitchatAgent", True), ("MemoryClient", False),
                    ("StreamingTTSAgent", False), ("ChainOfThoughtAgent", False)),
    "memory-client": (("MemoryOrchestratorService", True),),
    "gateway": (("RequestCoordinator", True), ("MemoryOrchestratorService", True)),
}


@dataclass(frozen=True)
class RoleChoice:
    role: str
    source: str  # "spec" or "default table"


def role_for(name: str, declared: str | None) -> RoleChoice:
    if declared:
        return RoleChoice(declared, "spec")
    return RoleChoice(DEFAULT_ROLES.get(name, "generic"), "default table")


def main_is_http(name: str, declared: str | None, reference: bool) -> bool:
    """Whether an agent's main port speaks HTTP instead of ZeroMQ: its role's, in the reference profile only."""
    return reference and role_for(name, declared).role in HTTP_MAIN_ROLES
